"""What a node needs to serve the same conversations as the front door, packed to travel through
Ray's object store: the prepared avatars, the personas, their knowledge files, the serve options.

The front door prepares each avatar once; the nodes receive the prepared copy (so no node needs
the source photo or video, and none prepares it again), and load it from a folder of their own.
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from livehuman.avatar.upload import UploadLimits

# Options that stay with the front door: it alone talks HTTP to visitors. (It alone prepares
# uploads too; a node keeps the prepared ones its offers name: NodeRecipe.uploads.)
FRONT_DOOR_ONLY = ("access", "uploads", "page", "persona", "avatar", "knowledge")


@dataclass
class NodeRecipe:
    """How to build a node's LiveServer (live/server.py's build_live_server) on another machine."""

    options: dict  # build_live_server's other keyword arguments (engine, brain, max_sessions, …)
    personas: list  # brain/persona.py's Personas: avatar = a prepared avatar's name, knowledge = a key of files
    avatars: bytes = b""  # a tar of prepared avatars, one folder per name
    files: dict[str, bytes] = field(default_factory=dict)  # knowledge files by name
    knowledge: str | None = None  # the server's own knowledge file (a key of files)
    uploads: UploadLimits | None = None  # what the front door takes as uploads (None: none)

    def unpack(self, folder: Path) -> dict:
        """Write the avatars and files into `folder` (the node's own: two nodes on one machine must
        not write into each other's avatars); build_live_server's keyword arguments for this node."""
        unpack_folders(self.avatars, folder / "avatars")
        for name, data in self.files.items():
            (folder / name).write_bytes(data)

        def here(key: str | None) -> str | None:
            return None if key is None else str(folder / key)

        personas = [replace(p, avatar=str(folder / "avatars" / p.avatar), knowledge=here(p.knowledge))
                    for p in self.personas]
        return {**self.options, "persona": personas, "knowledge": here(self.knowledge), "uploads": None}


def node_recipe(setups: dict, options: dict, uploads: UploadLimits | None = None) -> NodeRecipe:
    """The recipe for nodes serving what a front door serves: its personas' setups (live/server.py's
    PersonaSetup, each with its loaded avatar), the serve `options` it was built with, and the
    UploadLimits of the avatars uploaded to it (None: it takes none)."""
    files: dict[str, bytes] = {}

    def shipped(path: str | None) -> str | None:
        if path is None:
            return None
        key = f"{len(files)}-{Path(path).name}"
        files[key] = Path(path).read_bytes()
        return key

    avatars: dict[str, Path] = {}
    personas = []
    for setup in setups.values():
        avatar = setup.face.avatar
        avatars[avatar.name] = Path(avatar.directory)
        personas.append(replace(setup.persona, avatar=avatar.name, knowledge=shipped(setup.persona.knowledge)))
    kept = {key: value for key, value in options.items() if key not in FRONT_DOOR_ONLY}
    return NodeRecipe(kept, personas, pack_folders(avatars), files, shipped(options.get("knowledge")),
                      uploads=uploads)


def pack_folders(folders: dict[str, Path]) -> bytes:
    """A tar of each folder under its name."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, folder in folders.items():
            tar.add(folder, arcname=name)
    return buffer.getvalue()


def unpack_folders(packed: bytes, folder: Path) -> None:
    """Write what pack_folders packed into `folder` (one folder per name; nothing outside it)."""
    with tarfile.open(fileobj=io.BytesIO(packed)) as tar:
        tar.extractall(folder, filter="data")
