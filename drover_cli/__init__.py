"""The drover command line, a thin click adapter over the drover.fleet engine."""
