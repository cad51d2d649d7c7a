"""Controllers: each runs one kind of work (training, projections, files) and writes into the explorer."""
