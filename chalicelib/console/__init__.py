"""The operator console: server-rendered pages at ``/console`` and the API reference at
``/docs``, in the same Chalice app as the API. Every action calls the domain services the API
routes call; this package only turns forms into their commands and results into HTML."""
