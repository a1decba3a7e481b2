"""Master-key sealing, as infrastructure every domain uses.

`sealing` seals and opens blobs under the keyring of master keys; `registry` is where each
domain declares the columns it seals and the associated data it seals them under (next to
the model, with the very function its service calls); `rewrap` moves every registered blob
to a new master key; `canary` tells a wrong master key from the right one. Nothing here
imports a domain: the domains register themselves.
"""
