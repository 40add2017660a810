"""The lab: VM-like hosts in network namespaces on this machine, for the demo and the tests."""
