//! Cleanup by age and by disk ratio; disk-full refusal.
