/* spm.c - placeholder, being written. */
