"""The single definition of Tocsin's cloud resources: it provisions the local cloud and produces
the deploy template. Never bundled into Lambda."""
