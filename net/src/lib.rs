//! Remoting protocol codec, mio server and blocking client.
