"""corefile: render and check CoreDNS Corefiles for the federation zone (pure, stdlib only).

- :mod:`corefile.render` — the Corefile serving the zone from etcd, and a member's stub;
- :mod:`corefile.syntax` — tokens and server blocks of Corefile text, with line numbers;
- :mod:`corefile.check` — the problems of a Corefile, one ``FILE:LINE: message`` each.

The command line (``fedns corefile render|check``) is :mod:`fedns.corefile_command`.
"""
