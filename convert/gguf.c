/* gguf.c - placeholder, being written. */
