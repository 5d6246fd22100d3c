"""docker-in-workspaces: one directory, two entry points.

- `pulumi up` (Pulumi.yaml): the Python host connects the runtime to the engine's
  resource monitor, then runs this file: it creates the workspaces configured in
  Pulumi.<stack>.yaml.
- `pulumi package add <this repository>` (PulumiPlugin.yaml): the Python host runs
  `python <this directory> <engine address>`, with no resource monitor: this file
  then serves the components as a provider plugin (see provider.py), so programs in
  any Pulumi language can use them.
"""

if __name__ == "__main__":
    import pulumi.runtime

    if pulumi.runtime.settings.get_monitor() is None:
        from provider import serve

        serve()
    else:
        from components.program import main, tune_gc

        tune_gc()
        main()
