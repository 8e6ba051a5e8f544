/* gguf_reader.c - placeholder, being written. */
