"""The offline brain in Chinese and Japanese: typed questions get answers from a Chinese or Japanese
knowledge base, in that language, with names, greetings, thanks and follow-ups."""

from __future__ import annotations

from pathlib import Path

import pytest

from livehuman.brain.dialogue import Dialogue
from livehuman.brain.knowledge import load_knowledge
from livehuman.brain.multilingual import reply_language
from livehuman.brain.persona import load_persona

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def dialogue(lang: str) -> Dialogue:
    return Dialogue(load_persona(EXAMPLES / f"persona-{lang}.yaml"), load_knowledge(EXAMPLES / f"knowledge-{lang}.yaml"))


def reply(d: Dialogue, text: str) -> str:
    """The whole reply through the same async path the live brain streams it on."""
    import asyncio

    async def run():
        return "".join([c async for c in d.reply(text)])

    return asyncio.run(run())


def test_chinese_questions_get_the_knowledge_base_answer_in_chinese():
    d = dialogue("zh")
    assert reply(d, "你们早上几点开门？") == "我们每天早上九点开门，晚上八点关门。"
    assert reply(d, "营业到几点") == "我们每天早上九点开门，晚上八点关门。"  # a paraphrase
    assert reply(d, "还有呢？") == "周末和节假日也照常营业。"  # more on the same topic
    assert reply(d, "书店的地址在哪") .startswith("书店在人民路十二号")
    assert reply(d, "能用微信付钱吗") == "可以，我们支持银行卡、微信支付和支付宝。"
    assert reply(d, "有给小孩看的书吗").startswith("有的，二楼有一个儿童图书区")


def test_chinese_small_talk_names_and_unknowns():
    d = dialogue("zh")
    assert reply(d, "你好！") == "你好！有什么可以帮你的吗？"
    assert reply(d, "我叫小明") == "很高兴认识你，小明！有什么可以帮你的吗？"
    assert reply(d, "我叫什么名字？") == "你叫小明。"
    assert reply(d, "你叫什么名字") == "我叫小美。"
    assert reply(d, "谢谢").startswith("不客气，小明！")
    unknown = reply(d, "今天天气怎么样？")
    assert unknown.startswith("抱歉，小明，这个问题我不知道答案。") and "你们几点开门" in unknown
    assert reply(d, "再见") == "再见，小明！很高兴和你聊天。"
    assert reply(d, "？？") == "抱歉，我没听清楚。请再说一遍好吗？"  # the persona's language
    assert "Sorry" not in "".join(m["content"] for m in d.history)


def test_japanese_questions_get_the_knowledge_base_answer_in_japanese():
    d = dialogue("ja")
    assert reply(d, "こんにちは") == "こんにちは！何かお手伝いできることはありますか？"
    assert reply(d, "お店は何時に開きますか？") == "毎日、朝九時から夜八時まで開いています。"
    assert reply(d, "もっと詳しく") == "土曜日と日曜日も営業しています。"
    assert reply(d, "クレジットカードで払えますか") == "はい、クレジットカードと電子マネーが使えます。"
    assert reply(d, "どうやって返品しますか").startswith("レシートがあれば")
    assert reply(d, "私は田中です") == "はじめまして、田中さん！何かお手伝いできることはありますか？"
    assert reply(d, "私の名前は何ですか") == "あなたのお名前は田中さんです。"
    assert reply(d, "お名前は？") == "私の名前はさくらです。"
    assert reply(d, "明日の天気はどうですか？").startswith("すみません、田中さん、その質問の答えはわかりません。")
    assert reply(d, "ありがとう").startswith("どういたしまして、田中さん！")


def test_english_turns_keep_the_english_dialogue():
    d = dialogue("zh")
    assert reply(d, "Hello").startswith("Hello")  # a Chinese persona still understands English small talk
    assert reply_language("What time do you open?", "zh") == "en"
    assert reply_language("...", "ja") == "ja"
    assert reply_language("请问", "en") == "zh"
    assert reply_language("ですか", "zh") == "ja"


@pytest.mark.parametrize("text", ["你好", "こんにちは"])
def test_the_default_english_persona_answers_chinese_and_japanese_too(text):
    d = Dialogue()  # the shipped English knowledge base: greetings work, questions are "don't know"
    assert "didn't catch" not in reply(d, text)


@pytest.mark.parametrize(
    "lang, question, answer_start",
    [("zh", "书店几点开门？", "我们每天早上九点开门"), ("ja", "クレジットカードは使えますか", "はい、クレジットカード")],
)
def test_the_local_brain_answers_a_typed_question_aloud_in_the_personas_language(lang, question, answer_start):
    """The whole typed path: LocalBrain with the persona's language and knowledge base, its reply
    spoken by that language's voice (chosen from the persona) with phones for the mouth."""
    import asyncio

    from livehuman.brain.answer import answer
    from livehuman.brain.local_factory import LocalBrainFactory

    factory = LocalBrainFactory(str(EXAMPLES / f"persona-{lang}.yaml"), str(EXAMPLES / f"knowledge-{lang}.yaml"))

    async def run():
        brain = factory()
        try:
            return await answer(brain, text=question)
        finally:
            await brain.close()

    result = asyncio.run(run())
    assert result.speech.text.startswith(answer_start), result.speech.text
    assert result.speech.audio.duration > 1.0
    phones = [p.symbol for p in result.speech.phones]
    # Spoken in the language, not spelled out by an English voice ("Chinese letter": tʃaɪniːz).
    assert not any(s.startswith("tʃ") for s in phones) and "aɪ" not in phones
    assert len(phones) > 10


def test_the_page_is_told_that_speech_is_heard_in_english_only():
    """A Chinese persona on the offline recognizer: the brain's first event says so, plainly."""
    import asyncio

    from livehuman.brain.local_factory import LocalBrainFactory
    from livehuman.brain.speech_events import Notice

    async def first_event(factory):
        brain = factory()
        try:
            return await asyncio.wait_for(anext(brain.events()), 30)
        finally:
            await brain.close()

    zh = LocalBrainFactory(str(EXAMPLES / "persona-zh.yaml"), str(EXAMPLES / "knowledge-zh.yaml"))
    event = asyncio.run(first_event(zh))
    assert isinstance(event, Notice) and "English only" in event.message and "Chinese" in event.message
    assert "--asr-model" in event.message
