"""One module per REST resource, each with a `RouteTableDef` named `routes`."""
