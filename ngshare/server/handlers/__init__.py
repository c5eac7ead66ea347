"""HTTP handlers: thin layers that parse input, call the service, shape JSON."""
