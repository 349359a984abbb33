"""Dialogue: retrieval, honesty, names, follow-ups, barge-in truncation, and the LLM streaming path."""

import json
import socket
import textwrap

import pytest
from aiohttp import web

from livehuman.brain.dialogue import LLM_FULL_KNOWLEDGE, Dialogue, sentences, split_sentences
from livehuman.brain.knowledge import load_embedder, load_knowledge
from livehuman.brain.persona import Persona, load_persona
from livehuman.errors import LivehumanError

PLANS_YAML = """
- question: What is the Pro plan?
  answer: The Pro plan is for teams, with unlimited avatars and priority support.
  more: It also includes the MuseTalk engine setup service.
- question: How much does the Pro plan cost?
  answer: The Pro plan costs forty dollars a month.
- question: What is the Basic plan?
  answer: The Basic plan is for individuals, with one avatar.
- question: How much does the Basic plan cost?
  answer: The Basic plan costs ten dollars a month.
- q: What are your opening hours?
  a: We are open from nine to five, Monday to Friday.
- q: Where are you located?
  a: Our office is in Lisbon.
"""


@pytest.fixture(scope="module")
def embedder():
    return load_embedder()  # seconds: once per module


@pytest.fixture(scope="module")
def kb(embedder):
    kb = load_knowledge()
    kb.entry_vectors(embedder)
    return kb


@pytest.fixture(scope="module")
def plans(tmp_path_factory, embedder):
    path = tmp_path_factory.mktemp("kb") / "plans.yaml"
    path.write_text(PLANS_YAML)
    kb = load_knowledge(path)
    kb.entry_vectors(embedder)
    return kb


async def say(dialogue: Dialogue, text: str) -> str:
    return "".join([chunk async for chunk in dialogue.reply(text)])


# -- loading ----------------------------------------------------------------------------------


def test_default_knowledge_and_persona_ship():
    kb = load_knowledge()
    assert len(kb) >= 15
    assert all(e.question.endswith("?") and len(e.answer) > 20 for e in kb.entries)
    persona = load_persona()
    assert persona.name == "Ava" and persona.voice and persona.greeting


def test_yaml_and_markdown_knowledge(tmp_path, plans):
    assert [e.question for e in plans.entries][:2] == ["What is the Pro plan?", "How much does the Pro plan cost?"]
    assert plans.entries[0].more.startswith("It also includes")
    md = tmp_path / "kb.md"
    md.write_text(textwrap.dedent("""\
        # Our shop

        ## When are you open?
        From nine to five.

        On Saturdays until noon.

        ## Do you deliver?
        Yes, within the city.
        """))
    kb = load_knowledge(md)
    assert [(e.question, e.answer, e.more) for e in kb.entries] == [
        ("When are you open?", "From nine to five.", "On Saturdays until noon."),
        ("Do you deliver?", "Yes, within the city.", ""),
    ]
    wrapped = tmp_path / "wrapped.yml"
    wrapped.write_text("entries:\n  - {q: 'Why?', a: 'Because.'}\n")
    assert load_knowledge(wrapped).entries[0].answer == "Because."


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("missing.yaml", None, "not found"),
        ("bad.yaml", "- q: [unclosed", "not valid YAML"),
        ("noanswer.yaml", "- q: Why?\n", "needs both"),
        ("scalar.yaml", "just text", "YAML list"),
        ("empty.md", "# Title only\n", "no '## question'"),
        ("kb.txt", "Q: why", ".yaml, .yml or .md"),
    ],
)
def test_bad_knowledge_files(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(LivehumanError, match=message):
        load_knowledge(path)


# -- offline answers --------------------------------------------------------------------------

PARAPHRASES = [
    ("what exactly is livehuman", "What is livehuman?"),
    ("tell me what this program is for", "What is livehuman?"),
    ("is a graphics card required", "What hardware does livehuman need?"),
    ("will it run on my old laptop without a gpu", "What hardware does livehuman need?"),
    ("is there a fee to use it", "How much does livehuman cost?"),
    ("does it send my voice to the cloud", "Does it work offline?"),
    ("how are the mouth movements synchronized with the voice", "How does the lip sync work?"),
    ("can it talk in spanish", "Which languages does it speak?"),
    ("can I hook it up to ollama or another llm", "Can I connect a large language model?"),
    ("how do I put my own face on the avatar", "Can I use my own face?"),
    ("how long does it take to reply", "How fast does it answer?"),
    ("how do I turn an audio file into a talking video", "How do I make a lip-synced video?"),
    ("what happens if I speak while you are talking", "Can I interrupt you while you are speaking?"),
]


@pytest.mark.parametrize("text,question", PARAPHRASES)
async def test_retrieval_finds_paraphrases(kb, text, question):
    d = Dialogue(knowledge=kb)
    expected = next(e for e in kb.entries if e.question == question)
    assert await say(d, text) == expected.answer
    assert d.topic is expected


@pytest.mark.parametrize(
    "text",
    ["what is the capital of france", "can you recommend a good pasta recipe",
     "who won the football world cup in nineteen ninety", "what's the weather like tomorrow"],
)
async def test_unknown_questions_get_an_honest_answer(kb, text):
    d = Dialogue(knowledge=kb)
    answer = await say(d, text)
    assert "don't know" in answer
    assert d.topic is None


async def test_name_is_remembered_and_used(kb):
    d = Dialogue(knowledge=kb)
    assert "haven't told me your name" in await say(d, "what's my name?")
    assert "Bob" in await say(d, "Hi, I'm Bob.")
    assert d.user_name == "Bob"
    assert "My name is Ava" in await say(d, "and what's your name?")
    assert "I'm fine" not in await say(d, "I'm fine, thanks")  # not a name
    assert d.user_name == "Bob"
    assert await say(d, "do you remember my name?") == "Your name is Bob."
    assert "Bob" in await say(d, "thank you")
    assert "Bob" in await say(d, "tell me about the weather on mars")  # the apology uses it
    d2 = Dialogue(knowledge=kb)
    answer = await say(d2, "My name is carol and does livehuman need a gpu?")
    assert answer.startswith("Nice to meet you, Carol!") and "graphics card" in answer
    assert "Carol" in await say(d2, "goodbye")


async def test_a_self_correction_is_answered_by_what_follows_it(plans, kb):
    # Said in one breath, or the user going on over an answer begun in their pause (brain/local.py):
    # a long first question outweighed the correction in the retrieval.
    for text in ("where are you located in lisbon and what is the pro plan, no wait, what are your opening hours",
                 "what is the pro plan for teams with many avatars i mean when are you open",
                 "what is the basic plan for individuals scratch that when are you open"):
        answer = await say(Dialogue(knowledge=plans), text)
        assert "nine to five" in answer, (text, answer)
    answer = await say(Dialogue(knowledge=plans), "how much does the basic plan cost, no sorry, where are you located")
    assert "Lisbon" in answer
    answer = await say(Dialogue(knowledge=kb), "how fast does it answer when i talk no wait can i interrupt you")
    assert answer.startswith("Yes. Just start talking")  # and "no, wait" is no sadness
    # A correction with nothing after it, and "wait" or "actually" in a plain question, change nothing.
    assert "Lisbon" in await say(Dialogue(knowledge=plans), "where are you located, no wait")
    assert "Lisbon" in await say(Dialogue(knowledge=plans), "where are you actually located")
    assert "nine to five" in await say(Dialogue(knowledge=plans), "when are you open, can I wait there")


async def test_follow_ups_resolve_against_the_topic(plans):
    d = Dialogue(knowledge=plans)
    assert "for teams" in await say(d, "What is the Pro plan?")
    assert await say(d, "and how much does it cost?") == "The Pro plan costs forty dollars a month."
    assert await say(d, "what about the basic plan?") == "The Basic plan costs ten dollars a month."

    d = Dialogue(knowledge=plans)
    assert "individuals" in await say(d, "tell me about the basic plan")
    assert await say(d, "and how much is it?") == "The Basic plan costs ten dollars a month."

    d = Dialogue(knowledge=plans)
    await say(d, "what's in the pro plan?")
    assert await say(d, "tell me more") == plans.entries[0].more
    # Nothing more on the topic: it moves to the nearest one not yet discussed.
    nxt = await say(d, "tell me more")
    assert "That's all I know" in nxt and "Pro plan costs" in nxt
    assert "More about what" in await say(Dialogue(knowledge=plans), "tell me more")
    # A new, unrelated question changes the topic regardless of the old one.
    assert "nine to five" in await say(d, "and when are you open?")


async def test_greetings_small_talk_and_chunks(kb):
    d = Dialogue(knowledge=kb)
    assert (await say(d, "Hello!")).startswith("Hello")
    assert "doing well" in await say(d, "how are you?")
    answer = await say(d, "hi, what is livehuman?")
    assert answer.startswith("Hi!") and "digital human" in answer
    chunks = [c async for c in d.reply("does it need the internet")]
    assert len(chunks) == len(split_sentences("".join(chunks))) >= 2  # one chunk per sentence
    assert "topics" in await say(d, "what can you do?")
    assert "catch that" in await say(d, "  ")


async def test_truncate_cuts_the_reply_to_what_was_heard(kb):
    d = Dialogue(knowledge=kb)
    await say(d, "what is livehuman")
    full = d.history[-1]["content"]
    assert d.history[-1]["role"] == "assistant" and full.startswith("livehuman is an open-source")
    d.truncate_last_reply("livehuman is an open-source realtime")
    assert d.history[-1] == {"role": "assistant", "content": "livehuman is an open-source realtime"}

    # Barge-in during the reply: nothing after the cut is yielded or remembered.
    got = []
    async for chunk in d.reply("how does the lip sync work"):
        got.append(chunk)
        d.truncate_last_reply("The voice comes")
    assert len(got) == 1
    assert d.history[-1]["content"] == "The voice comes"
    assert d.history[-2] == {"role": "user", "content": "how does the lip sync work"}

    await say(d, "is it free")
    d.truncate_last_reply("")  # heard nothing: the reply is gone from the history
    assert d.history[-1] == {"role": "user", "content": "is it free"}


async def test_sentences_regroups_tokens():
    async def tokens():
        for t in ["Hel", "lo there", ". How", " are you?", " I am", " fine"]:
            yield t
    assert [s async for s in sentences(tokens())] == ["Hello there.", "How are you?", "I am fine"]


# -- the LLM path, against a local server speaking the real streaming protocol ---------------


def sse(chunk_id: str, model: str, delta: dict, finish=None) -> bytes:
    body = {"id": chunk_id, "object": "chat.completion.chunk", "created": 1700000000, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(body)}\n\n".encode()


@pytest.fixture
async def llm_server():
    """A loopback OpenAI-compatible chat server that streams a reply word by word."""
    requests = []

    async def chat(request: web.Request):
        body = await request.json()
        requests.append({"body": body, "auth": request.headers.get("Authorization")})
        if body["model"] == "broken":
            return web.json_response({"error": {"message": "model exploded", "type": "server_error"}}, status=500)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(sse("c1", body["model"], {"role": "assistant", "content": ""}))
        words = f"Reply {len(requests)}: sure thing. Second sentence here!".split(" ")
        for i, word in enumerate(words):
            await resp.write(sse("c1", body["model"], {"content": word if i == 0 else " " + word}))
        await resp.write(sse("c1", body["model"], {}, finish="stop"))
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    async def models(request):
        return web.json_response({"object": "list", "data": [
            {"id": "tiny-llm", "object": "model", "created": 0, "owned_by": "test"}]})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/v1/models", models)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/v1", requests
    await runner.cleanup()


async def test_llm_streams_tokens_with_persona_and_history(llm_server):
    url, requests = llm_server
    persona = Persona(name="Max", style="cheerful", instructions="You are Max, a shop assistant.")
    d = Dialogue(persona, llm_url=url, llm_model="tiny-llm")
    chunks = [c async for c in d.reply("Hi, I'm Dana. What is livehuman?")]
    assert chunks[0] == "Reply" and len(chunks) == 7
    assert "".join(chunks) == "Reply 1: sure thing. Second sentence here!"
    body = requests[0]["body"]
    assert body["stream"] is True and body["model"] == "tiny-llm"
    system = body["messages"][0]
    assert system["role"] == "system"
    assert "Max" in system["content"] and "shop assistant" in system["content"] and "cheerful" in system["content"]
    assert "Dana" in system["content"]  # the name it heard
    assert "open-source realtime talking digital human" in system["content"]  # the knowledge base
    assert body["messages"][1:] == [{"role": "user", "content": "Hi, I'm Dana. What is livehuman?"}]
    assert requests[0]["auth"] == "Bearer not-needed"

    d.truncate_last_reply("Reply 1: sure")
    await anext(aiter(d.reply("And then?")))  # abandoned after the first token
    assert requests[1]["body"]["messages"][1:] == [
        {"role": "user", "content": "Hi, I'm Dana. What is livehuman?"},
        {"role": "assistant", "content": "Reply 1: sure"},
        {"role": "user", "content": "And then?"},
    ]


async def test_llm_gets_only_the_nearest_facts_of_a_large_knowledge_base(llm_server, tmp_path, embedder):
    url, requests = llm_server
    lockers = [f"- q: What is the code of locker {n}?\n  a: Locker {n} opens with code {1000 + n}.\n"
               for n in range(LLM_FULL_KNOWLEDGE)]
    path = tmp_path / "big.yaml"
    path.write_text("".join(lockers) + "- q: Where are you located?\n  a: Our office is in Lisbon.\n"
                    "  more: Near the river.\n")
    d = Dialogue(knowledge=load_knowledge(path), llm_url=url, llm_model="tiny-llm", embedder=embedder)
    await say(d, "Where is your office?")
    system = requests[0]["body"]["messages"][0]["content"]
    assert "Q: Where are you located?\nA: Our office is in Lisbon. Near the river.\n\n" in system
    # The nearest eight entries only: the office and seven lockers, not all forty-one.
    assert sum(f"Locker {n} opens" in system for n in range(LLM_FULL_KNOWLEDGE)) == 7


async def test_llm_model_discovery_and_errors(llm_server, monkeypatch):
    url, requests = llm_server
    monkeypatch.setenv("LIVEHUMAN_LLM_API_KEY", "sk-local")
    d = Dialogue(llm_url=url)
    assert (await say(d, "hello")).startswith("Reply 1")
    assert requests[0]["body"]["model"] == "tiny-llm" and requests[0]["auth"] == "Bearer sk-local"
    with pytest.raises(LivehumanError, match="answered 500"):
        await say(Dialogue(llm_url=url, llm_model="broken"), "hello")
    with socket.socket() as s:  # a loopback port with nothing listening
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    with pytest.raises(LivehumanError, match="cannot reach"):
        await say(Dialogue(llm_url=dead, llm_model="x"), "hello")


# -- the user's emotion: empathy before the answer ------------------------------------------------

LEADS = ("I'm so sorry", "I understand", "That sounds worrying")


async def test_sadness_anger_and_fear_get_a_short_empathetic_lead_in(kb):
    d = Dialogue(knowledge=kb)
    sad = d.respond("I feel so sad today, my dog died.")
    assert sad.startswith("I'm so sorry you're feeling this way.") and "don't know" not in sad  # no shrug at grief
    angry = d.respond("I am so angry, this is useless. Is it free?")
    assert angry.startswith("I understand, that sounds really frustrating.")
    assert angry.split(". ", 1)[1] == d.respond("Is it free?")  # then the answer itself
    afraid = d.respond("I'm worried, does it send my voice to the cloud?")
    assert afraid.startswith("That sounds worrying") and "own machine" in afraid
    for calm in ("Is it free?", "I am not sad at all, what is livehuman?", "Thank you, that is great!"):
        assert not d.respond(calm).startswith(LEADS), calm
    greeted = d.respond("Hi, I'm scared of computers")
    assert greeted.startswith("Hi! That sounds worrying")


async def test_the_llm_is_told_how_the_user_feels(llm_server):
    url, requests = llm_server
    d = Dialogue(Persona(name="Max"), llm_url=url, llm_model="tiny-llm")
    [c async for c in d.reply("I am so sad, I lost my job.")]
    [c async for c in d.reply("What is livehuman?")]
    first, second = (r["body"]["messages"][0]["content"] for r in requests)
    assert "The user sounds sad: begin with a short, sincere word of empathy." in first
    assert "empathy" not in second
