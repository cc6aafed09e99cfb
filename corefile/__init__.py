"""corefile: render and check CoreDNS Corefiles for the federation zone (pure, stdlib only).

Reserved for the Corefile issue; it holds no code yet and nothing imports it.
"""
