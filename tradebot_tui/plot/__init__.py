"""HTML plots of replays and studies (plotly, the optional extra `plot`)."""
