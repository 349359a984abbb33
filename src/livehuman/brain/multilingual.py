"""The offline brain in Chinese and Japanese: the same turns as the English dialogue (greetings,
names, thanks, goodbyes, "tell me more", knowledge lookups), with rules and replies written for
each language and retrieval on character units (see text_units) instead of English embeddings.

A turn is answered in the language it is written in (kana: Japanese; Han alone: Chinese); a turn
with no letters at all (noise, punctuation) gets the persona's language's "didn't catch that".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from livehuman.brain.text_units import language_of

if TYPE_CHECKING:
    from livehuman.brain.dialogue import Dialogue
    from livehuman.brain.knowledge import Entry

# TF-IDF cosine over character units (text_units) below which a question is not in the knowledge
# base. Paraphrases of a known question share most of its character pairs and score 0.35-0.9;
# unrelated ones share a character or two and stay under 0.27 (examples/knowledge-zh.yaml, -ja.yaml).
UNIT_THRESHOLD = 0.3

_PUNCT = re.compile(r"[\s\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65!-/:-@\[-`{-~]+")


@dataclass(frozen=True)
class Lines:
    """What the offline brain says, and the phrases it recognises, in one language."""

    didnt_catch: str
    hello: str  # a greeting alone; {name} is the user's name with its separator, or ""
    hi: str  # a greeting before an answer
    nice_to_meet: str  # {bare} is the user's name alone
    anything: str  # after a name alone
    my_name_is: str  # {persona}
    your_name_is: str  # {bare}
    no_name_yet: str
    how_are_you: str
    thanks: str
    bye: str
    ack: str
    dont_know: str
    examples: str  # {listed}
    list_sep: str
    list_last: str
    capabilities: str  # {n}
    more_about_what: str
    thats_all: str
    related: str  # {question} {answer}
    name_sep: str  # how {name} is written: ", {bare}"
    greeting: re.Pattern[str]
    thanks_q: re.Pattern[str]
    bye_q: re.Pattern[str]
    how_are_you_q: re.Pattern[str]
    your_name_q: re.Pattern[str]
    my_name_q: re.Pattern[str]
    capabilities_q: re.Pattern[str]
    more_q: re.Pattern[str]
    ack_q: re.Pattern[str]
    name_said: tuple[re.Pattern[str], ...]
    not_names: frozenset[str]


ZH = Lines(
    didnt_catch="抱歉，我没听清楚。请再说一遍好吗？",
    hello="你好{name}！有什么可以帮你的吗？",
    hi="你好{name}！",
    nice_to_meet="很高兴认识你，{bare}！",
    anything="有什么可以帮你的吗？",
    my_name_is="我叫{persona}。",
    your_name_is="你叫{bare}。",
    no_name_yet="你还没告诉我你的名字呢。我该怎么称呼你？",
    how_are_you="我很好，谢谢关心{name}！你想了解什么？",
    thanks="不客气{name}！还有什么想知道的吗？",
    bye="再见{name}！很高兴和你聊天。",
    ack="很高兴能帮到你。还想了解什么？",
    dont_know="抱歉{name}，这个问题我不知道答案。",
    examples="你可以问我，比如：{listed}？",
    list_sep="？",
    list_last="？或者",
    capabilities="我可以回答{n}个话题的问题。",
    more_about_what="你想了解哪方面呢？",
    thats_all="关于这个我就知道这么多了。还有什么想知道的吗？",
    related="关于这个我就知道这么多了。一个相关的问题是：{question} {answer}",
    name_sep="，{bare}",
    greeting=re.compile(r"^(你好|您好|嗨|哈喽|哈啰|早上好|早安|下午好|晚上好|大家好)(呀|啊)?"),
    thanks_q=re.compile(r"谢谢|多谢|感谢|谢啦"),
    bye_q=re.compile(r"再见|拜拜|回头见|下次见|晚安"),
    how_are_you_q=re.compile(r"你好吗|你还好吗|最近怎么样|你怎么样|过得怎么样"),
    your_name_q=re.compile(r"你叫什么|你是谁|你的名字|怎么称呼你|我在和谁说话"),
    my_name_q=re.compile(r"我叫什么|我的名字是什么|我是谁|记得我的名字"),
    capabilities_q=re.compile(r"你能做什么|你会做什么|你会什么|你知道什么|我可以问什么|能问什么|你能帮我什么|^帮助$"),
    more_q=re.compile(r"^(还有呢|还有吗|然后呢|多说|再说|详细|具体说|说详细|继续|接着说)"),
    ack_q=re.compile(r"^(好|好的|好吧|嗯|嗯嗯|哦|明白了?|知道了|懂了|不错|太好了|行|可以|是的|对|酷|厉害)$"),
    name_said=(
        re.compile(r"(?:我叫|我的名字是|我的名字叫|叫我|我是)([\u4e00-\u9fffA-Za-z]{1,4}?)(?=$|[，。！？,.!?]|的)"),
    ),
    not_names=frozenset({"谁", "什么", "学生", "老师", "新来的", "中国人", "日本人", "问", "想问"}),
)

JA = Lines(
    didnt_catch="すみません、よく聞き取れませんでした。もう一度言っていただけますか？",
    hello="こんにちは{name}！何かお手伝いできることはありますか？",
    hi="こんにちは{name}！",
    nice_to_meet="はじめまして、{bare}さん！",
    anything="何かお手伝いできることはありますか？",
    my_name_is="私の名前は{persona}です。",
    your_name_is="あなたのお名前は{bare}さんです。",
    no_name_yet="まだお名前を伺っていません。何とお呼びすればいいですか？",
    how_are_you="元気です、ありがとうございます{name}！何について知りたいですか？",
    thanks="どういたしまして{name}！他に知りたいことはありますか？",
    bye="さようなら{name}！お話しできて楽しかったです。",
    ack="お役に立ててよかったです。他に知りたいことはありますか？",
    dont_know="すみません{name}、その質問の答えはわかりません。",
    examples="例えば、{listed}、などを聞いてみてください。",
    list_sep="、",
    list_last="、",
    capabilities="{n}個の話題について質問に答えられます。",
    more_about_what="何についてもっと知りたいですか？",
    thats_all="それについて知っていることは以上です。他に知りたいことはありますか？",
    related="それについて知っていることは以上です。関連する質問です：{question} {answer}",
    name_sep="、{bare}さん",
    greeting=re.compile(r"^(こんにちは|こんばんは|おはようございます|おはよう|はじめまして|やあ|もしもし|どうも)"),
    thanks_q=re.compile(r"ありがとう|有難う|感謝|サンキュー"),
    bye_q=re.compile(r"さようなら|さよなら|またね|じゃあね|バイバイ|失礼します|おやすみ"),
    how_are_you_q=re.compile(r"元気ですか|お元気|調子はどう|元気？|元気\?"),
    your_name_q=re.compile(r"お名前は|名前は何|あなたは誰|あなたはだれ|誰ですか|何と呼べば"),
    my_name_q=re.compile(r"私の名前は何|私の名前を覚え|私は誰|わたしの名前は何"),
    capabilities_q=re.compile(r"何ができ|何を知って|何を聞け|何が聞け|何について答え|^ヘルプ$"),
    more_q=re.compile(r"^(もっと|詳しく|くわしく|続けて|他には|ほかには|それで|それから|他に何か)"),
    ack_q=re.compile(r"^(はい|うん|ええ|なるほど|わかりました|分かりました|了解|いいね|すごい|そうですか|そうなんだ|オッケー)$"),
    name_said=(
        re.compile(r"(?:私は|わたしは|僕は|ぼくは|俺は|名前は)([^\s、。！？,.!?はがをに]{1,6}?)(?:です|と申します|といいます|だよ|だ)(?=$|[、。！？,.!?])"),
        re.compile(r"^([^\s、。！？,.!?はがをに]{1,6}?)(?:と申します|といいます)"),
    ),
    not_names=frozenset({"元気", "大丈夫", "学生", "先生", "日本人", "中国人", "誰", "何", "初めて", "ここ"}),
)

LINES: dict[str, Lines] = {"zh": ZH, "ja": JA}


def reply_language(text: str, persona_language: str) -> str:
    """The language to answer `text` in: the one it is written in, English for Latin letters, and
    the persona's for a turn with no letters at all."""
    written = language_of(text, default="")
    if written:
        return written
    if re.search(r"[A-Za-z]", text):
        return "en"
    return (persona_language or "en").split("-")[0].lower()


def answers(language: str) -> bool:
    """Whether the offline brain has its own rules and replies for `language` (else: English)."""
    return language in LINES


def _compact(text: str) -> str:
    # Spaces and punctuation say nothing to these rules; Latin letters are compared lower-case.
    return _PUNCT.sub("", text).lower()


def respond(dialogue: Dialogue, user_text: str, language: str) -> str:
    """The offline answer to one Chinese or Japanese turn (updates the dialogue's name and topic)."""
    lines = LINES[language]
    t = _compact(user_text)
    if not t:
        return lines.didnt_catch
    prefix: list[str] = []
    asks_name = lines.my_name_q.search(t) or lines.your_name_q.search(t)
    for pattern in () if asks_name else lines.name_said:
        m = pattern.search(t)
        if m and m.group(1) not in lines.not_names:
            dialogue.user_name = m.group(1)
            prefix.append(lines.nice_to_meet.format(bare=m.group(1)))
            t = (t[: m.start()] + t[m.end():]).strip()
            if not t:
                return prefix[0] + lines.anything
            break
    greeting = lines.greeting.match(t)
    if greeting and not lines.how_are_you_q.search(t):
        t = t[greeting.end():]
        if not t:
            return "".join(prefix) or lines.hello.format(name=_name(dialogue, lines))
        if not prefix:
            prefix.append(lines.hi.format(name=_name(dialogue, lines)))
    return "".join(prefix) + _answer(dialogue, t, lines)


def _name(dialogue: Dialogue, lines: Lines) -> str:
    return lines.name_sep.format(bare=dialogue.user_name) if dialogue.user_name else ""


def _answer(dialogue: Dialogue, t: str, lines: Lines) -> str:
    name = _name(dialogue, lines)
    short = len(t) <= 10
    if lines.my_name_q.search(t):
        if dialogue.user_name:
            return lines.your_name_is.format(bare=dialogue.user_name)
        return lines.no_name_yet
    if lines.your_name_q.search(t):
        return lines.my_name_is.format(persona=dialogue.persona.name)
    if lines.how_are_you_q.search(t) and short:
        return lines.how_are_you.format(name=name)
    if lines.thanks_q.search(t) and short:
        return lines.thanks.format(name=name)
    if lines.bye_q.search(t) and short:
        return lines.bye.format(name=name)
    if lines.capabilities_q.search(t):
        return lines.capabilities.format(n=len(dialogue.knowledge)) + _examples(dialogue, lines)
    if lines.more_q.match(t) and short:
        return _more(dialogue, lines)
    if lines.ack_q.match(t):
        return lines.ack
    return _lookup(dialogue, t, lines)


def _lookup(dialogue: Dialogue, t: str, lines: Lines) -> str:
    scores = dialogue.knowledge.unit_scores(t)
    i = int(np.argmax(scores))
    if scores[i] < UNIT_THRESHOLD:
        return lines.dont_know.format(name=_name(dialogue, lines)) + _examples(dialogue, lines)
    return _take_up(dialogue, dialogue.knowledge.entries[i]).answer


def _more(dialogue: Dialogue, lines: Lines) -> str:
    topic = dialogue.topic
    if topic is None:
        return lines.more_about_what + _examples(dialogue, lines)
    if topic.more and topic not in dialogue._told_more:
        dialogue._told_more.add(topic)
        return topic.more
    # Nothing more on this topic: the nearest topic not yet discussed, by shared character units.
    scores = dialogue.knowledge.unit_scores(topic.question)
    for i in np.argsort(-scores):
        entry = dialogue.knowledge.entries[int(i)]
        if entry is not topic and entry not in dialogue._said and scores[i] > 0:
            _take_up(dialogue, entry)
            return lines.related.format(question=entry.question, answer=entry.answer)
    return lines.thats_all


def _take_up(dialogue: Dialogue, entry: Entry) -> Entry:
    dialogue.topic = entry
    dialogue._said.add(entry)
    return entry


def _examples(dialogue: Dialogue, lines: Lines) -> str:
    entries = dialogue.knowledge.entries
    fresh = [e for e in entries if e not in dialogue._said][:3] or entries[:3]
    qs = [e.question.rstrip("?？。") for e in fresh]
    listed = lines.list_sep.join(qs[:-1]) + (lines.list_last if len(qs) > 1 else "") + qs[-1]
    return lines.examples.format(listed=listed)
