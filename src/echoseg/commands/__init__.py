"""One module per subcommand; each defines `register(subparsers)`. Discovered by `echoseg.cli`."""
