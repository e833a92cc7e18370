"""Pure array algorithms: no AnnData, no plotting, no printing."""
