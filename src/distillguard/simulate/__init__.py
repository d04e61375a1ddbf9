"""The labelled multi-provider traffic simulator (docs/simulator.md).

``distillguard.simulate.world.generate(scenario, seed, corpus)`` builds a :class:`World`
of Arrow tables; ``write_world(world, out)`` writes the documented folder layout.
"""
