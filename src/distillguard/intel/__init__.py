"""Threat-intelligence sharing, member side: privacy-preserving STIX indicators.

Modules: ``policy`` (the deny-by-default sharing guard, imported by the hub too),
``vocab`` (wire names), ``hashing`` (normalise + keyed HMAC with key rotation),
``sketch`` (keyed MinHash of prompt templates), ``stix`` (bundle building), ``audit``
(hash-chained log of everything sent), ``taxii`` (push/pull), ``match`` (pulled
indicators vs local accounts), ``trust`` (what a match may do locally), ``psi``
(member-to-member private set intersection). docs/intel.md explains the design.
"""
