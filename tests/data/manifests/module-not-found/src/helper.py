"""Not a module name the runtime looks for."""
