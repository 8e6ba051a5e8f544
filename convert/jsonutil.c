/* jsonutil.c - placeholder, being written. */
