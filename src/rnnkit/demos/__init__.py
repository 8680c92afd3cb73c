"""Parts of ``rnnkit demo``: each module has ``run(out_dir, seed, quiet)``."""
