"""The docker-in-workspaces policy pack. `policy.workspace_policies` holds the policies; `__main__.py` serves them."""
