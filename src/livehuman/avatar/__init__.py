"""Avatars: a photo, a video or an image folder, prepared once and cached on disk.

- source.py: reading sources (open_source, read_source)
- landmarks.py: mediapipe's face mesh (FaceMeshDetector) and face measures
- boxes.py: MuseTalk-style face boxes and bbox_shift
- zones.py: which part of the face a point falls in (face_geometry, zone_at), for touch
- prepare.py: prepare_avatar(source, name, ...) -> Avatar
- store.py: avatars on disk (avatar_root, write_avatar, read_avatar, list_avatars)
- default.py: the default avatar and make_face_video for tests and benchmarks
- cache.py: avatars by name or path, prepared on the fly (load_avatar); the layer above the others
"""
