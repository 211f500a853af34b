"""The five screens, one module each; each has its stylesheet in screens/<name>.tcss."""
