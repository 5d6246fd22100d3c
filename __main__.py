"""docker-in-workspaces: `pulumi up` creates the workspaces configured in Pulumi.<stack>.yaml."""

from components.program import main

main()
