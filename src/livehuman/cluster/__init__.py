"""Live sessions spread over the machines of a Ray cluster (`livehuman serve --cluster`).

The front door (front.py) stays one HTTP process: the page, `/offer`, `/v1/realtime`. Each machine
of the cluster runs one NodeHost actor (node.py) holding that machine's sessions, render workers
and prepared avatars; an offer is answered by the least-loaded node (placement.py), so the media
flows between the browser and that machine. What the nodes need (avatars, persona files) reaches
them through Ray's object store (bundle.py).

Ray is imported only in front.py, and only by `serve --cluster`: a single machine does without it.
"""
