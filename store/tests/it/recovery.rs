//! Recovery after simulated crashes: torn tails, flipped bits, lost consume queues.
