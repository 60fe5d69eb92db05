"""What both apps share and neither owns: the typed request, the cache backend."""
