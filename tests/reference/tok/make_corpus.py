#!/usr/bin/python3
"""Writes corpus.jsonl: the tokenizer parity corpus. Each line is {"text": str} or, for byte
strings that are not valid UTF-8, {"hex": "..."}. Hand-written cases cover every script in xP3
and the tricky spots of byte-level BPE; the rest are real xP3-style lines (tests/data/tokenizers/shards)."""
import json, glob, os

HAND = [
    "Hello world", " Hello world", "Hello  world", "hello, world! How's it going? I'm fine; we're 're 've 'll 'd 's 't",
    "I’m using typographic quotes ‘like this’ and “these”.",
    "Café crème brûlée, naïve façade, Ångström, Øre, Straße, ŒUVRE, Ēnglish, Łódź, Čeština, Ğüşçöı.",
    "Tiếng Việt có dấu: Người Việt Nam yêu hòa bình. Hà Nội, Thành phố Hồ Chí Minh.",
    "Ẹ kú àárọ̀! Báwo ni? Ọmọ náà ń lọ sí ilé-ìwé. Yorùbá ní ọ̀pọ̀lọpọ̀ àmì ohùn.",
    "今天天气很好，我们去公园散步吧。北京是中国的首都。",
    "日本語のテキスト：東京は日本の首都です。カタカナとひらがな、漢字。",
    "한국어 텍스트: 서울은 대한민국의 수도입니다.",
    "हिन्दी: भारत एक विशाल देश है। यहाँ अनेक भाषाएँ बोली जाती हैं।",
    "मराठी: महाराष्ट्र राज्याची राजधानी मुंबई आहे। नेपाली: नेपालको राजधानी काठमाडौं हो।",
    "العربية: اللغة العربية هي لغة رسمية في أكثر من عشرين دولة، وهي لغة القرآن.",
    "اردو: پاکستان کی قومی زبان اردو ہے۔ یہ ایک خوبصورت زبان ہے۔",
    "தமிழ்: தமிழ் ஒரு பழமையான மொழி. சென்னை தமிழ்நாட்டின் தலைநகரம்.",
    "తెలుగు: హైదరాబాద్ తెలంగాణ రాజధాని. తెలుగు ఒక ద్రావిడ భాష.",
    "বাংলা: বাংলাদেশের রাজধানী ঢাকা। বাংলা একটি সুন্দর ভাষা।",
    "ગુજરાતી: અમદાવાદ ગુજરાતનું મોટું શહેર છે. ਪੰਜਾਬੀ: ਪੰਜਾਬ ਦੀ ਰਾਜਧਾਨੀ ਚੰਡੀਗੜ੍ਹ ਹੈ।",
    "ಕನ್ನಡ: ಬೆಂಗಳೂರು ಕರ್ನಾಟಕದ ರಾಜಧಾನಿ. മലയാളം: തിരുവനന്തപുരം കേരളത്തിന്റെ തലസ്ഥാനം. ଓଡ଼ିଆ: ଭୁବନେଶ୍ୱର",
    "অসমীয়া: গুৱাহাটী অসমৰ ডাঙৰ চহৰ।",
    "Kiswahili: Mwanaume alifungua bomba la maji. isiZulu: Ngiyabonga kakhulu. Igbo: Kedu ka ị mere?",
    "Twi: Ɛte sɛn? Ɔkɔm de me. Lingala: Mbote na yo. Kinyarwanda: Muraho neza. Wolof: Nanga def?",
    "Ελληνικά: Η Αθήνα είναι η πρωτεύουσα. Русский: Москва — столица России. עברית: שלום עולם",
    "ไทย: กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย",
    "def add(a, b):\n    \"\"\"Return a + b.\"\"\"\n    return a + b\n\nprint(add(1, 2))\n",
    "#include <stdio.h>\nint main(void) {\n\tfor (int i = 0; i < 10; ++i) printf(\"%d\\n\", i);\n\treturn 0;\n}\n",
    "function f(x) { return x => x * 2; } // arrow\n  const s = `template ${x}`;\r\n",
    "SELECT name, COUNT(*) FROM users WHERE age >= 18 GROUP BY name HAVING COUNT(*) > 1;",
    "    four leading spaces", "trailing spaces    ", "a  b   c    d     e", "\t\ttabs\tand\t\ttabs\t",
    "\n\nnewlines\n\n\nmany\n", "\r\n windows \r\n line \r\n", "mixed \t \n \r\n  \t whitespace", "   ", "\n", " ", "",
    "non\u00a0breaking\u00a0space and\u2009thin\u2009space and\u3000ideographic\u3000space",
    "line\u2028separator and paragraph\u2029separator and next\u0085line", "zero\u200bwidth\u200djoiner\u200cnon-joiner\ufeffbom",
    "emoji: 😀😃😄 👍🏽 👨‍👩‍👧‍👦 🇫🇷🇯🇵 ❤️ 🏳️‍🌈 ✨", "math: ∑_{i=1}^{n} x_i² ≤ ∞, √2 ≈ 1.414, α+β=γ, ℕ ⊂ ℝ",
    "digits: 0123456789 ٠١٢٣٤٥٦٧٨٩ ०१२३४५६७८९ ௧௨௩ 12,345.67 1e-9 3.14159",
    "fullwidth: ＡＢＣ１２３！？ ｶﾀｶﾅ", "combining: e\u0301 a\u0300 n\u0303 o\u0308 Å vs A\u030a",
    "punctuation: ...!!!???,,, — – - … 。，、 । ۔ ، (paren) [brackets] {braces} <angle>",
    "special tokens inline: <s>start</s> <pad><pad> <unk> and <|endoftext|> then text<|endoftext|>more",
    "almost special: < s> <s >s> <</s>> <|endoftext| |endoftext|>",
    "URLs: https://huggingface.co/bigscience/bloomz?x=1&y=2#frag e-mail: someone@example.org",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    "Question: Which is more plausible?\nOptions:\n- The man opened the tap.\n- Water flowed out.\nAnswer:",
    "控制字符 \u0001\u0002\u0007 and DEL \u007f and C1 \u0080\u009f", "private use \ue000 and plane 15 \U000f0000 and ancient 𐌰𐌱𐌲 𓀀",
    "the 'quotes' and \"double\" and `back` ticks",
    "Say hello to [MASK] and   [MASK]<sep>   next; sayhello hello_world hello, world! Hello HELLO",
    "Die Straße, die STRASSE, die Strasse; worldwide world.world <sep><sep>  [MASK][MASK]", "'s's's 're're", "CamelCaseWordsAndALLCAPS and snake_case_words",
]
INVALID_HEX = [
    "48656c6c6fff776f726c64",        # lone 0xFF
    "c3",                            # truncated 2-byte sequence
    "e282",                          # truncated 3-byte sequence
    "eda080",                        # UTF-8-encoded surrogate
    "f4908080",                      # above U+10FFFF
    "c0af",                          # overlong '/'
    "616263e282ac6465fe66",          # valid euro sign then 0xFE
    "80808080",                      # lone continuation bytes
]

def xp3_lines():
    root = os.path.join(os.path.dirname(__file__), "../../data/tokenizers/shards")
    out = []
    for path in sorted(glob.glob(os.path.join(root, "*", "part-00000.jsonl"))):
        with open(path, encoding="utf-8") as f:
            for line in list(f)[:4]:
                row = json.loads(line)
                out += [row["inputs"], " " + row["targets"]]
    return out

with open(os.path.join(os.path.dirname(__file__), "corpus.jsonl"), "w", encoding="utf-8") as f:
    for text in HAND + xp3_lines():
        f.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
    for h in INVALID_HEX:
        f.write(json.dumps({"hex": h}) + "\n")
