"""HTTP adapter shared by the function handlers: resolver, error mapping, tenancy, body limits."""
