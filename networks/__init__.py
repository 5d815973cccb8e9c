"""Network data and generators (synthetic feeders); generated networks go to networks/generated/."""
