"""The ``genesys-token`` Lambda extension: serves the function's Genesys Cloud token on localhost."""
