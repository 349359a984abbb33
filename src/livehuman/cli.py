"""The `livehuman` command: prepare, render, serve, bench.

Heavy modules are imported inside each command so that `livehuman --help` answers at once.
Problems the user can fix arrive as LivehumanError and are printed as one line, without a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import signal
import sys
import threading
from pathlib import Path

from livehuman.brain.barge_in import CONFIRM_MS
from livehuman.brain.turn_end import LIMIT_MS, MODES, PAUSE_MS, UNSURE_MS
from livehuman.errors import LivehumanError
from livehuman.motion.closures import AUTO, NATURAL, VOICE_KINDS
from livehuman.rates import FPS

MIN_FPS, MAX_FPS = 1, 120  # the frame rates a render may ask for
BENCHES = ("render", "lipsync", "live", "musetalk", "prepare", "phones", "realtime", "soak", "cluster")  # livehuman.bench.<name>
TURN_PASSWORD_ENV, TURN_SECRET_ENV = "LIVEHUMAN_TURN_PASSWORD", "LIVEHUMAN_TURN_SECRET"  # serve's TURN credentials


def _engine_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine", default="cpu", choices=("cpu", "musetalk"), help="lip-sync engine (default: cpu)")
    musetalk = parser.add_argument_group("MuseTalk options (--engine musetalk)")
    musetalk.add_argument("--models", metavar="DIR", help="MuseTalk's models/ directory")
    _musetalk_tuning(musetalk)


def _musetalk_tuning(parser) -> None:
    parser.add_argument("--device", help="auto (default: the GPU when there is one), cpu, cuda or cuda:N")
    parser.add_argument("--dtype", choices=("float16", "bfloat16", "float32"), help="default: float16 on a GPU, float32 on the CPU")
    parser.add_argument("--compile", action="store_true", default=None, help="compile the networks with torch.compile")
    parser.add_argument("--batch-size", type=int, metavar="N", help="frames per network call (default 8)")


def _engine_from_args(args: argparse.Namespace, head_motion: bool = True):
    from livehuman.render.engines import make_engine

    return make_engine(args.engine, args.models, head_motion=head_motion, device=args.device, dtype=args.dtype,
                       compile=bool(args.compile), batch_size=args.batch_size)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="livehuman", description="A realtime talking digital human.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks and debug logs")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    prepare = commands.add_parser("prepare", help="turn a photo, a video or an image folder into a cached avatar")
    prepare.add_argument("--name", required=True, help="the avatar's name, used by render and serve")
    prepare.add_argument("--source", required=True, help="a photo, a video, or a folder of images")
    prepare.add_argument("--bbox-shift", type=int, default=0, help="move the lower face region down (+) or up (-), pixels")
    prepare.add_argument("--fps", type=float, default=float(FPS), help=f"frame rate of the avatar (default {FPS})")
    prepare.add_argument("--force", action="store_true", help="prepare again even if a cached avatar matches")
    _engine_options(prepare)

    render = commands.add_parser("render", help="render a lip-synced MP4 from speech (audio or text)")
    render.add_argument("--avatar", default="default", help="a prepared avatar's name, or a photo/video path (default: the built-in face)")
    what = render.add_mutually_exclusive_group(required=True)
    what.add_argument("--audio", help="speech to lip-sync: any audio or video file")
    what.add_argument("--text", help="text to speak with the built-in voice")
    what.add_argument("--config", help="a YAML file of tasks (MuseTalk's format: task_0: {video_path, audio_path, bbox_shift, result_name})")
    render.add_argument("-o", "--output", help="the MP4 to write (default: out/<avatar>.mp4)")
    render.add_argument("--result-dir", default="results", help="where --config writes its videos (default: results/)")
    render.add_argument("--fps", type=float, help="output frame rate (default: the avatar's, 25 for a new one)")
    render.add_argument("--bbox-shift", type=int, help="as for prepare (default: as the avatar was prepared)")
    render.add_argument("--voice", help="voice: espeak-ng's for --text (default en-us; see `livehuman voices`), or the brain's")
    render.add_argument("--lang", help="language of --text (en, zh, ja, …): picks the built-in voice when --voice is not given")
    render.add_argument("--no-head-motion", action="store_true", help="keep the head still (blinks stay)")
    render.add_argument("--seed", type=int, help="make the blinks and sway reproducible (default: new each run)")
    render.add_argument("--emotion", metavar="NAME[:STRENGTH]",
                        help="the face's expression for the whole render: neutral, joy, sadness, concern, surprise, anger "
                             "or fear, at a strength 0..1 (default 1), e.g. joy:0.6; auto: read from the spoken text")
    render.add_argument("--voice-kind", choices=(AUTO, *VOICE_KINDS),
                        help="whose voice --audio is, for the lips: natural (a person's, or one that sounds like it) "
                        "or synthetic (espeak-ng's formant voices) (default: auto, guessed from the sound; natural "
                        "for --brain openai's answers)")
    render.add_argument("--brain", choices=("none", "local", "openai", "realtime"), default="none",
                        help="answer --text/--audio with a brain and render its spoken answer (default: none, speak it as given)")
    render.add_argument("--realtime-url", help="WebSocket base URL of a Realtime-compatible server (for --brain realtime)")
    render.add_argument("--model", default="gpt-realtime", help="Realtime model (for --brain openai/realtime)")
    render.add_argument("--persona", help="persona file (TOML or YAML; see examples/personas) for --brain local")
    render.add_argument("--knowledge", metavar="FILE",
                        help="answer --text/--audio from this knowledge base (YAML questions and answers, or Markdown), "
                             "with the local brain: render your own FAQ's answer")
    _engine_options(render)

    serve = commands.add_parser("serve", help="talk to the digital human in the browser")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--tls-cert", metavar="PEM", help="serve https with this certificate (chain); browsers on other machines then allow the microphone")
    serve.add_argument("--tls-key", metavar="PEM", help="the certificate's private key (if not in --tls-cert's file)")
    serve.add_argument("--token", help="access token that API clients send as 'Authorization: Bearer TOKEN' and the "
                                       "page asks for (default: $LIVEHUMAN_TOKEN); needed beyond 127.0.0.1")
    serve.add_argument("--no-auth", action="store_true", help="serve beyond 127.0.0.1 without a token: anyone who reaches it can use it")
    serve.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                       help="let pages on ORIGIN (https://example.com) connect; repeatable; '*' only with --token")
    serve.add_argument("--ice-server", action="append", default=[], metavar="URL",
                       help="a STUN or TURN server for visitors behind NAT (stun:HOST:PORT, turn:HOST:PORT"
                            "[?transport=tcp], turns:…); repeatable; the page gets the same list")
    serve.add_argument("--turn-user", help="the TURN servers' user name (with --turn-password)")
    serve.add_argument("--turn-password", help=f"the TURN servers' password (or ${TURN_PASSWORD_ENV})")
    serve.add_argument("--turn-secret", help="coturn's static-auth-secret: each page gets a TURN password that "
                                             f"expires in a day (or ${TURN_SECRET_ENV})")
    serve.add_argument("--avatar", help="a prepared avatar's name or a photo/video path (default: the persona's, "
                                        "else the built-in face)")
    serve.add_argument("--persona", action="append", metavar="FILE_OR_FOLDER",
                       help="persona file (TOML or YAML: name, avatar, voice, greeting, style, brain…; see "
                            "examples/personas), or a folder of them; repeatable: the page lists them, the first "
                            "is the default")
    serve.add_argument("--knowledge", help="knowledge base (YAML questions and answers, or Markdown)")
    serve.add_argument("--brain", choices=("local", "openai", "realtime"), help="local: offline cascade; openai: OpenAI Realtime API; realtime: any compatible server (--realtime-url) (default: the persona's, else local)")
    look = serve.add_argument_group("the page's look (over every persona's [page]; docs/embed.md)")
    look.add_argument("--title", help="the page's title and heading (default: the persona's, else livehuman)")
    look.add_argument("--accent", metavar="COLOUR", help="the buttons' colour: #rrggbb, #rgb or a CSS name")
    look.add_argument("--logo", metavar="IMAGE", help="a PNG, JPEG, GIF, WebP or SVG file, or an https:// URL, "
                                                      "shown before the title")
    serve.add_argument("--realtime-url", help="WebSocket base URL of a Realtime-compatible server (Azure, proxies, livehuman's own /v1)")
    serve.add_argument("--model", help="Realtime model (for --brain openai/realtime; default: the persona's, else gpt-realtime)")
    serve.add_argument("--voice", help="voice (espeak-ng voice for local, Realtime voice for openai)")
    serve.add_argument("--lang", help="the offline brain's language (en, zh, ja, …): picks its voice when --voice is not given")
    serve.add_argument("--llm-url", help="OpenAI-compatible chat endpoint for the local brain's replies (Ollama, vLLM, llama.cpp)")
    serve.add_argument("--llm-model", help="model name at --llm-url")
    serve.add_argument("--asr-model", metavar="DIR", help="faster-whisper model directory (default: pocketsphinx)")
    serve.add_argument("--max-sessions", type=int, default=4, help="simultaneous sessions before new ones are told the server is busy")
    serve.add_argument("--render-workers", type=int, metavar="N",
                       help="processes that draw the cpu engine's frames for every session (default: one per core; 0: none)")
    serve.add_argument("--no-reply-phones", action="store_true",
                       help="a remote brain's replies move the mouth by their sound alone, without the phones "
                            "a recognizer hears in them (saves a ~60 MB process a session and ~0.1 core while a reply comes in)")
    serve.add_argument("--cluster", metavar="ADDRESS",
                       help="run the sessions on the machines of a Ray cluster (auto: the one this machine joined "
                            "with `ray start`; HOST:PORT; ray://HOST:PORT); --max-sessions is then per machine "
                            "(see docs/cluster.md)")
    uploads = serve.add_argument_group("avatars made in the page (POST /avatars; see docs/avatars.md)")
    uploads.add_argument("--upload-photo-mb", type=float, default=10.0, metavar="MB", help="largest photo taken (default 10)")
    uploads.add_argument("--upload-video-mb", type=float, default=50.0, metavar="MB", help="largest video taken (default 50)")
    uploads.add_argument("--upload-video-seconds", type=float, default=30.0, metavar="S",
                         help="longest video taken (default 30)")
    uploads.add_argument("--uploads-kept", type=int, default=20, metavar="N",
                         help="prepared uploads kept; the oldest is removed when another is ready (default 20)")
    uploads.add_argument("--no-uploads", action="store_true", help="the page cannot upload avatars")
    realtime = serve.add_argument_group("turn-taking and Realtime API options")
    realtime.add_argument("--turn-detection", default="server_vad", choices=("server_vad", "semantic_vad", "none"))
    realtime.add_argument("--vad-threshold", type=float, help="server_vad: speech probability threshold (0..1)")
    realtime.add_argument("--silence-ms", type=int, help="silence that ends a turn (server_vad; also the offline brain's "
                          "with --end-of-turn vad, and auto for a synthesizer's voice, default 300)")
    realtime.add_argument("--end-of-turn", choices=MODES, default="auto",
                          help="the offline brain's turn ends: vad: after --silence-ms of silence; model: "
                          "after a short silence if the words, the pitch and the end-of-turn model say it is finished, "
                          "a longer one if not; auto (default): model for a voice that sounds like a person's, vad for "
                          "a speech synthesizer's (see docs/offline-brain.md)")
    realtime.add_argument("--turn-pause-ms", type=int, metavar="MS",
                          help=f"--end-of-turn model, auto: silence that ends a finished turn, when it is judged (default {PAUSE_MS})")
    realtime.add_argument("--turn-unsure-ms", type=int, metavar="MS",
                          help=f"--end-of-turn model, auto: silence that ends a turn neither finished nor unfinished (default {UNSURE_MS})")
    realtime.add_argument("--turn-limit-ms", type=int, metavar="MS",
                          help=f"--end-of-turn model, auto: silence that ends even an unfinished turn (default {LIMIT_MS})")
    realtime.add_argument("--barge-in-ms", type=int, metavar="MS",
                          help="/v1/realtime clients: the offline brain stops talking for speech over it only once the "
                          f"speech has gone on this long, voiced, and is not only a backchannel (default {CONFIRM_MS}; "
                          "the page's sessions pause the reply at once and judge the whole sound instead; 0: any "
                          "speech stops it at once, for both; see docs/live.md)")
    realtime.add_argument("--prefix-ms", type=int, help="server_vad: audio kept before detected speech")
    realtime.add_argument("--eagerness", choices=("low", "medium", "high", "auto"), help="semantic_vad: how soon to answer")
    realtime.add_argument("--transcription-model", help="model that transcribes the user's speech (default gpt-4o-mini-transcribe)")
    realtime.add_argument("--noise-reduction", choices=("near_field", "far_field"), help="input noise reduction")
    realtime.add_argument("--speed", type=float, help="speaking speed of the answer (0.25..1.5)")
    realtime.add_argument("--voice-kind", choices=VOICE_KINDS,
                          help="whose voice the remote brain speaks in, for the lips: natural (a person's) or synthetic "
                          "(espeak-ng, flite…) (default: natural for --brain openai, synthetic for --brain realtime)")
    _engine_options(serve)

    _bench_options(commands.add_parser("bench", help="measure speed and lip-sync quality"))

    voices = commands.add_parser("voices", help="list the built-in voices with their languages")
    voices.add_argument("--lang", help="only voices that speak this language (e.g. en, zh, ja, en-gb)")
    commands.add_parser("avatars", help="list the prepared avatars")
    return parser


def _bench_options(bench: argparse.ArgumentParser) -> None:
    """The benches' flags. Their defaults are the benches' own (livehuman.bench.options): a flag left
    out is None here, so `python -m livehuman.bench.X` and this command measure the same thing."""
    from livehuman.bench.options import (
        ClusterOptions,
        LipsyncOptions,
        LiveOptions,
        MuseTalkOptions,
        PrepareOptions,
        RealtimeOptions,
        RenderOptions,
    )

    live, muse, prep = LiveOptions, MuseTalkOptions, PrepareOptions
    bench.add_argument("what", choices=BENCHES)
    bench.add_argument("--json", action="store_true", help="print the results as JSON")
    bench.add_argument("--seconds", type=float,
                       help=f"render: length of the speech rendered (default {RenderOptions.seconds:g}); live: how long "
                            f"each number of sessions is held (default {live.seconds:g}); prepare: length of the "
                            f"face video (default {prep.seconds:g})")
    musetalk = bench.add_argument_group("musetalk bench")
    musetalk.add_argument("--models", metavar="DIR", help="MuseTalk's models/ directory (tiny random weights when absent)")
    musetalk.add_argument("--full-size", action="store_true", default=None,
                          help="without --models: random weights of the real networks' sizes")
    musetalk.add_argument("--batch-sizes", help=f"comma-separated batch sizes to time (default "
                                                f"{','.join(map(str, muse.batch_sizes))})")
    musetalk.add_argument("--sessions", help="comma-separated numbers of sessions sharing one engine")
    musetalk.add_argument("--device", help=f"{muse.device} (default), cpu, cuda or cuda:N")
    musetalk.add_argument("--dtype", choices=("float16", "bfloat16", "float32"))
    musetalk.add_argument("--compile", action="store_true", default=None, help="compile the networks with torch.compile")
    bench.add_argument("--plot", metavar="PNG",
                       help="lipsync: the matrix's heat maps (or the real and rendered lips); live: the latencies and sessions; "
                       "soak: memory, threads, latency and frame rate over the run")
    lip = LipsyncOptions
    group = bench.add_argument_group("lipsync bench")
    group.add_argument("--faces", metavar="LIST", help="comma-separated faces: default, astronaut, a harder face of "
                       f"bench/faces.py or a photo's path (default {','.join(lip.faces)})")
    group.add_argument("--voices", metavar="LIST", help="comma-separated voices: espeak:VOICE@WPM/PITCH, flite:NAME, "
                       f"wav:PATH (default: {len(lip.voices)} espeak-ng and flite voices)")
    group.add_argument("--natural", nargs="+", metavar="WAV",
                       help="natural English recordings that join the voices, scored against their words aligned "
                            "to the sound (a transcript CLIP.txt beside CLIP.wav, else the words recognized)")
    group.add_argument("--degrade", metavar="LIST", help="each --natural recording also with these, comma-separated: "
                       "hiss20, hiss30 (a microphone's hiss, 20 or 30 dB under the voice), pink20 (a warmer one), hum50, hum60 (mains hum), offset (a DC offset), quiet (24 dB "
                       "too low), clipped (20 dB too high), phone (a telephone's band)")
    group.add_argument("--real-video", metavar="MP4", help="instead of the matrix: drive this talking video with "
                       "its own soundtrack and compare the rendered lips with the real ones")
    group = bench.add_argument_group("live bench")
    group.add_argument("--render-workers", type=int, metavar="N", help="the server's render processes (default: one per core)")
    group.add_argument("--turns", type=int, metavar="N", help=f"questions asked, each also barged into (default {live.turns})")
    group.add_argument("--max-sessions", type=int, metavar="N",
                       help=f"most simultaneous sessions tried (default {live.max_sessions})")
    group.add_argument("--drift-minutes", type=float, metavar="M",
                       help="also hold one talking session M minutes and measure A/V drift (default: no)")
    group.add_argument("--barge-in-ms", type=int, metavar="MS", help="the server's serve --barge-in-ms (default: serve's)")
    group.add_argument("--end-of-turn", choices=MODES, help="the server's serve --end-of-turn (default auto)")
    group.add_argument("--questions", nargs="+", metavar="WAV|VOICE",
                       help="asked in turn instead of espeak-ng's questions: recordings (a voice ends at its last sample "
                       "within 20 dB of its loudest), or voices saying the bench's questions (espeak:…, flite:…, "
                       "festival:NAME@STRETCH/PITCH, as for bench lipsync --voices)")
    group = bench.add_argument_group("soak bench (also --sessions K: clients at once, default 2)")
    group.add_argument("--minutes", type=float, metavar="M", help="how long the clients talk (default 2)")
    group.add_argument("--in-a-row", type=int, metavar="N",
                       help="instead of talking: open and close N sessions one after another, each timed")
    group = bench.add_argument_group("cluster bench (root, Ray)")
    group.add_argument("--offers", type=int, metavar="N",
                       help=f"visits timed at a lone server and at the front door (default {ClusterOptions.offers})")
    group.add_argument("--places", type=int, metavar="N", help=f"sessions each node takes (default {ClusterOptions.places})")
    group.add_argument("--ray-defaults", action="store_true", default=None,
                       help="Ray's own health checks (default: quick ones, a dead node found in ~1.5 s)")
    group = bench.add_argument_group("prepare bench")
    group.add_argument("--fps", type=float, help=f"frame rate of the face video (default {prep.fps:g})")
    group.add_argument("--runs", type=int, metavar="N", help=f"fresh processes timed, the best reported (default {prep.runs})")
    group = bench.add_argument_group("phones bench")
    group.add_argument("--sweep", action="store_true", default=None, help="also search decoder settings")
    group = bench.add_argument_group("realtime bench")
    group.add_argument("--silence-ms", type=int, help=f"server_vad's silence (default {RealtimeOptions.silence_ms})")
    group.add_argument("--fast-asr", action="store_true", default=None, help="skip pocketsphinx's second pass")


def cmd_prepare(args: argparse.Namespace) -> None:
    from livehuman.avatar.prepare import prepare_avatar
    from livehuman.avatar.store import avatar_root, read_meta

    engine = _engine_from_args(args)  # bad engine options fail before the slow preparation
    source = (read_meta(avatar_root() / args.name) or {}).get("source")  # an avatar of that name, already
    made_from = source.get("path") if isinstance(source, dict) else None
    if made_from and Path(made_from) != Path(args.source).expanduser().resolve():
        print(f"note: this replaces the avatar {args.name!r}, made from {made_from}")
    avatar = prepare_avatar(args.source, args.name, fps=args.fps, bbox_shift=args.bbox_shift, force=args.force)
    if args.engine != "cpu":
        engine.load(avatar)
    print(f"prepared avatar {avatar.name!r}: {avatar.n_frames} frame(s) at {avatar.size[0]}x{avatar.size[1]}, cached in {avatar.directory}")


def _load_speech(args: argparse.Namespace, audio_path: str | None = None):
    from livehuman.speech.audio import Speech, is_silent, load_audio

    path = audio_path or args.audio
    if path:
        audio = load_audio(path)
        if is_silent(audio):
            raise LivehumanError(f"{path} is silent: there is no speech to lip-sync")
        return Speech(audio)
    from livehuman.speech.espeak import EspeakTTS

    return EspeakTTS(voice=args.voice or "en-us").synthesize(args.text)


def _render_one(args, avatar_ref: str, speech, output: str | Path, bbox_shift: int | None) -> None:
    from livehuman.avatar.cache import load_avatar
    from livehuman.render.batch import render_video

    avatar = load_avatar(avatar_ref, fps=args.fps, bbox_shift=bbox_shift)
    engine = _engine_from_args(args, head_motion=not args.no_head_motion)
    emotion = _emotion(args)
    if _auto_emotion(args):
        from livehuman.emotion.reply import reply_expression

        name, strength = reply_expression(speech.text or "")  # as the live avatar shows a reply's words
        emotion = (name, strength) if name != "neutral" else None
        print(f"emotion from the text: {name}" + (f" at {strength:.2f}" if emotion else ""))
    voice = args.voice_kind or (NATURAL if args.brain == "openai" else AUTO)
    result = render_video(avatar, engine, speech, output, fps=args.fps, head_motion=not args.no_head_motion,
                          seed=args.seed, emotion=emotion, voice=voice)
    guessed = " (guessed)" if voice == AUTO else ""
    heard = f", heard as a {result.voice} voice{guessed}" if result.voice else ""
    print(
        f"wrote {result.path}: {result.frames} frames, {result.duration:.2f} s, "
        f"{result.realtime_factor:.1f}x realtime (mouth from {result.audio_from}{heard})"
    )


def _auto_emotion(args: argparse.Namespace) -> bool:
    return (getattr(args, "emotion", None) or "").strip().lower() == "auto"


def _emotion(args: argparse.Namespace) -> tuple[str, float] | None:
    from livehuman.motion.expression import parse_emotion

    if _auto_emotion(args):
        if args.audio or args.config:
            if args.brain == "none":
                raise LivehumanError("--emotion auto reads the emotion from the text: use it with --text or --brain")
        return None
    return parse_emotion(args.emotion) if getattr(args, "emotion", None) else None


def _language_from_script(args: argparse.Namespace) -> None:
    """Text written in a script that says its language (kana, Hangul, Cyrillic, …) is spoken in it:
    the English voice would read it as letters' names ("Chinese letter", …)."""
    from livehuman.speech.languages import language_name, script_language

    args.lang = script_language(args.text)
    if args.lang:
        name = language_name(args.lang)
        print(f"livehuman: the text looks {name}: spoken by the {name} voice (--lang or --voice chooses another)",
              file=sys.stderr)


def cmd_render(args: argparse.Namespace) -> None:
    from livehuman.render.video_file import check_output

    _emotion(args)  # a bad emotion fails before the slow speech and avatar
    if args.text and not (args.lang or args.voice) and args.brain == "none":
        _language_from_script(args)
    if args.lang and not args.voice and args.brain in ("none", "local"):
        from livehuman.speech.languages import voice_for

        args.voice = voice_for(args.lang)

    _check_render_numbers(args)
    if args.config:
        render_tasks(args)
        return
    default = f"out/{Path(args.avatar).expanduser().resolve().stem or 'render'}.mp4"  # (`--avatar .`: the folder's name)
    output = check_output(default if args.output is None else args.output)
    _check_not_an_input(output, args.avatar, args.audio)
    if args.knowledge is not None and args.brain == "none":
        args.brain = "local"  # a knowledge base is there to be answered from
    if args.brain != "none":
        from livehuman.brain.render_answer import answer_speech

        speech = answer_speech(
            text=args.text, audio_path=args.audio, brain=args.brain, realtime_url=args.realtime_url,
            model=args.model, voice=args.voice, persona=args.persona, knowledge=args.knowledge,
        )
    else:
        speech = _load_speech(args)
    _render_one(args, args.avatar, speech, output, args.bbox_shift)


def render_tasks(args: argparse.Namespace) -> None:
    """`render --config`: every task in turn; a task that fails is reported and the others still run."""
    from livehuman.render.tasks import load_tasks
    from livehuman.render.video_file import check_output

    tasks = load_tasks(args.config)
    result_dir = Path(args.result_dir)
    if result_dir.exists() and not result_dir.is_dir():
        raise LivehumanError(f"--result-dir {result_dir} is a file: give a folder")
    failed = []
    for task in tasks:
        print(f"{task.name}: {task.video_path} + {task.audio_path}")
        shift = task.bbox_shift if args.bbox_shift is None else args.bbox_shift
        try:
            output = check_output(result_dir / task.result_name)
            _check_not_an_input(output, task.video_path, task.audio_path)
            speech = _load_speech(args, task.audio_path)
            _render_one(args, task.video_path, speech, output, shift)
        except LivehumanError as exc:
            print(f"livehuman: {task.name} failed: {exc}", file=sys.stderr)
            failed.append(task.name)
        except Exception as exc:  # a bug in one task: said, and the others still rendered
            if args.debug:
                raise
            print(f"livehuman: {task.name} failed: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
            failed.append(task.name)
    if failed:
        raise LivehumanError(f"{len(failed)} of {len(tasks)} tasks failed ({', '.join(failed)}); the others were written to {args.result_dir}")


def _check_render_numbers(args: argparse.Namespace) -> None:
    """One line for a frame rate, seed or voice no render can use (before any slow work)."""
    if args.voice is not None and not args.voice.strip():
        raise LivehumanError("--voice needs a voice's name: `livehuman voices` lists them")
    if args.fps is not None and not (math.isfinite(args.fps) and MIN_FPS <= args.fps <= MAX_FPS):
        raise LivehumanError(f"--fps must be between {MIN_FPS} and {MAX_FPS} frames a second, not {args.fps:g}")
    if args.seed is not None and args.seed < 0:
        raise LivehumanError(f"--seed must be 0 or more, not {args.seed}")


def _check_not_an_input(output: Path, *inputs: str | None) -> None:
    """Refuse an output that would replace one of the render's own inputs."""
    for source in inputs:
        if source and Path(source).exists() and output.exists() and output.samefile(source):
            raise LivehumanError(f"the output {output} is one of the render's inputs: writing it would destroy "
                                 f"the input; give another -o")


def _realtime_options(args: argparse.Namespace) -> dict:
    """The Realtime session options a user set on the command line (the rest keep the API's defaults)."""
    from livehuman.brain.openai_brain import turn_detection

    options = {
        "turn": turn_detection(
            args.turn_detection, threshold=args.vad_threshold, silence_ms=args.silence_ms,
            prefix_ms=args.prefix_ms, eagerness=args.eagerness,
        ),
        "transcription_model": args.transcription_model,
        "noise_reduction": args.noise_reduction,
        "speed": args.speed,
        "natural_voice": None if args.voice_kind is None else args.voice_kind == NATURAL,
    }
    return {key: value for key, value in options.items() if value is not None or key == "turn"}


def cmd_serve(args: argparse.Namespace) -> None:
    from livehuman.live.access import TOKEN_ENV
    from livehuman.live.ice import ice_settings
    from livehuman.live.server import run_server

    from livehuman.brain.persona import load_personas

    from livehuman.theme import theme_from_flags

    if not 0 <= args.port <= 65535:  # (0: any free port)
        raise LivehumanError(f"--port must be between 1 and 65535, not {args.port}")
    page = theme_from_flags(args.title, args.accent, args.logo)  # a bad flag: one line, before anything loads
    ice = ice_settings(args.ice_server, args.turn_user, args.turn_password or os.environ.get(TURN_PASSWORD_ENV) or None,
                       args.turn_secret or os.environ.get(TURN_SECRET_ENV) or None)
    personas = load_personas(args.persona)  # a bad file is refused now, in one line, before any model loads
    brain = args.brain or ("local" if personas[0].brain == "offline" else personas[0].brain)
    if brain == "local" and args.lang:
        from livehuman.speech.languages import base_language, voice_for

        args.voice = args.voice or voice_for(args.lang)
        if base_language(args.lang) != "en" and not args.asr_model:
            print("livehuman: the offline recognizer (pocketsphinx) understands English only: type in "
                  f"{args.lang!r}, or pass --asr-model DIR (a faster-whisper model) to be heard in it", file=sys.stderr)
    if brain == "local" and args.voice:
        from livehuman.speech.espeak import EspeakTTS

        EspeakTTS(voice=args.voice)  # a typo is refused now, as `render` does, not heard as en-us later

    logging.getLogger().handlers[0].setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    run_server(
        host=args.host, port=args.port, tls_cert=args.tls_cert, tls_key=args.tls_key, avatar=args.avatar, persona=personas, brain=args.brain,
        max_sessions=args.max_sessions, knowledge=args.knowledge, voice=args.voice,
        llm_url=args.llm_url, llm_model=args.llm_model, asr_model_dir=args.asr_model,
        model=args.model, realtime_url=args.realtime_url, engine=args.engine, models_dir=args.models,
        engine_options={"device": args.device, "dtype": args.dtype, "compile": bool(args.compile),
                        "batch_size": args.batch_size},
        brain_options=_realtime_options(args) if brain != "local" else None,
        silence_ms=args.silence_ms if brain == "local" else None, render_workers=args.render_workers,
        turn_options={"end_of_turn": args.end_of_turn, "turn_pause_ms": args.turn_pause_ms,
                      "turn_limit_ms": args.turn_limit_ms, "turn_unsure_ms": args.turn_unsure_ms,
                      "barge_in_ms": args.barge_in_ms},
        token=args.token if args.token is not None or args.no_auth else os.environ.get(TOKEN_ENV) or None,
        no_auth=args.no_auth, cors_origins=args.cors_origin, page=page,
        uploads=_upload_limits(args), ice=ice, reply_phones=not args.no_reply_phones, **_cluster(args.cluster),
    )


def _cluster(address: str | None) -> dict:
    """run_server's way to build the server: a cluster's front door with --cluster (Ray is
    imported only then), else its own default."""
    if address is None:
        return {}
    import functools

    try:
        from livehuman.cluster.front import front_door
    except ImportError as exc:
        raise LivehumanError(f"--cluster needs Ray ({exc}): pip install 'livehuman[cluster]'") from None
    return {"build": functools.partial(front_door, address)}


def _upload_limits(args: argparse.Namespace):
    """serve's upload settings, or None with --no-uploads."""
    from livehuman.avatar.upload import UploadLimits

    if args.no_uploads:
        return None
    for flag, value in (("--upload-photo-mb", args.upload_photo_mb), ("--upload-video-mb", args.upload_video_mb),
                        ("--upload-video-seconds", args.upload_video_seconds), ("--uploads-kept", args.uploads_kept)):
        if not value > 0:
            raise LivehumanError(f"{flag} must be more than 0 (use --no-uploads to turn uploads off)")
    return UploadLimits(photo_bytes=int(args.upload_photo_mb * (1 << 20)), video_bytes=int(args.upload_video_mb * (1 << 20)),
                        video_seconds=float(args.upload_video_seconds), max_kept=int(args.uploads_kept))


def cmd_bench(args: argparse.Namespace) -> None:
    if args.what == "lipsync":
        from livehuman.bench.lipsync_matrix import bench_lipsync as run
    else:  # livehuman.bench.<what>.bench_<what>_from_args
        from importlib import import_module

        run = getattr(import_module(f"livehuman.bench.{args.what}"), f"bench_{args.what}_from_args")
    results = run(args)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for key, value in results.items():
            print(f"{key:>34}: {value:.3f}" if isinstance(value, float) else f"{key:>34}: {value}")


def cmd_voices(args: argparse.Namespace) -> None:
    from livehuman.speech.espeak import describe_voices

    voices = describe_voices(args.lang)
    if not voices:
        raise LivehumanError(f"no voice speaks {args.lang!r}: run `livehuman voices` to see them all")
    width = max(len(code) for code, _ in voices)
    print("\n".join(f"{code:<{width}}  {name}" for code, name in voices))


def cmd_avatars(args: argparse.Namespace) -> None:
    from livehuman.avatar.cache import list_avatars

    names = list_avatars()
    print("\n".join(names) if names else "no prepared avatars yet: livehuman prepare --name NAME --source PHOTO_OR_VIDEO")


COMMANDS = {
    "prepare": cmd_prepare,
    "render": cmd_render,
    "serve": cmd_serve,
    "bench": cmd_bench,
    "voices": cmd_voices,
    "avatars": cmd_avatars,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO, format="%(message)s")
    if not args.debug:  # aioice tells every ICE check at INFO: six lines a connection; sentence-transformers its loading
        for library in ("aioice", "aiortc", "sentence_transformers"):
            logging.getLogger(library).setLevel(logging.WARNING)
    # mediapipe and TensorFlow Lite talk a lot on stderr; users need none of it
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # `timeout`, a service manager or a closed terminal stop a render as Ctrl+C does: its unfinished
    # file removed, the old output and the avatar cache kept.
    if threading.current_thread() is threading.main_thread():  # (signals are the main thread's only)
        for stop in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(stop, _interrupted)
    try:
        COMMANDS[args.command](args)
    except LivehumanError as exc:
        print(f"livehuman: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("livehuman: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # the machine said no: a full disk, a read-only folder, a name too long
        if args.debug:
            raise
        where = f" {exc.filename}" if exc.filename else ""
        print(f"livehuman: error: cannot use{where}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug, not bad input: still one line, with the way to see more
        if args.debug:
            raise
        print(f"livehuman: internal error: {type(exc).__name__}: {exc} (run with --debug for details)", file=sys.stderr)
        return 1
    return 0


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
