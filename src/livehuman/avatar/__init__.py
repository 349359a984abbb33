"""Avatars: a photo, a video or an image folder, prepared once and cached on disk.

- source.py: reading sources (open_source, read_source)
- landmarks.py: mediapipe's face mesh (FaceMeshDetector) and face measures
- boxes.py: MuseTalk-style face boxes and bbox_shift
- prepare.py: prepare_avatar(source, name, ...) -> Avatar
- cache.py: the on-disk cache (avatar_root, load_avatar, list_avatars, read_avatar)
- default.py: the default avatar and make_face_video for tests and benchmarks
"""
