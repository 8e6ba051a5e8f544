// Texts for token-id equality between llama.cpp (on a converted GGUF) and
// the HF tokenizer (@lenml/tokenizers on the same tokenizer.json): unicode
// in many scripts (combining marks included), emoji sequences, digits,
// code, whitespace runs, newlines, HTML tags, special-token markup, and
// deterministic random strings over a mixed alphabet.

import { xorshift32 } from './harness.mjs';

const FIXED = [
  'Hello world', ' Hello world', 'Hello  world   !', '  leading spaces', 'trailing spaces   ',
  '\n\nnewlines\n\n\n\nmany', 'tabs\tand\t\ttabs', 'The quick brown fox jumps over the lazy dog.',
  'Ünïcödé tëxt: naïve café, résumé, Straße', '日本語のテキストです。漢字とひらがな', '中文文本测试，标点符号！',
  '한국어 텍스트', 'emoji 😀🎉👍🏽 👨‍👩‍👧‍👦 flags 🇫🇷🇯🇵', 'digits 1234567890 3.14159 1e-10 0x1F',
  'code: for (int i = 0; i < n; i++) { x[i] += y[i] * 2; }', 'def f(x):\n    return x ** 2  # comment\n',
  '<start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\n',
  '<|start|>system<|message|>You are ChatGPT.<|end|><|start|>user<|message|>Hi<|end|><|start|>assistant<|channel|>final<|message|>',
  '<b>bold</b> <table><tr><td>cell</td></tr></table>', 'URL https://example.com/path?q=1&r=2#frag',
  'email a.b@c.de', 'αβγδε ΑΒΓΔ русский текст', 'עברית ועוד', 'العربية نص', 'हिन्दी पाठ',
  'mixed\u00a0nbsp\u2003emsp', 'control \u0001\u0002 chars', 'repeated aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
  '<unused0> <mask> [multimodal]', '<bos>literal bos', '▁literal▁marks▁▁', '   ', 'a', '\n', ' ',
  'The 2024 Olympic Games — in Paris… “quotes” ‘single’', 'JSON {"key": [1, 2, 3], "nested": {"a": null}}',
  '$$\\frac{a}{b} = \\sum_{i=0}^{n} x_i^2$$', "tokenization's edge-cases: don't, won't, I'm, you're",
  'CamelCaseIdentifiersAndsnake_case_names', '<|im_start|>not a token', '\u200bzero\u200dwidth',
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math 𝐀𝐁𝐂', '💩'.repeat(10), 'x'.repeat(300),
  'हिन्दी भाषा में लिखा गया वाक्य है।', 'বাংলা ভাষায় লেখা বাক্য', 'తెలుగు భాష', 'ภาษาไทยเป็นภาษาที่สวยงาม',
  'العَرَبِيَّة مع الحركات', 'e\u0301te\u0301 cafe\u0301 nai\u0308ve', 'Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇', 'தமிழ் மொழி', 'ಕನ್ನಡ',
  'Tiếng Việt có dấu', 'שָׁלוֹם', 'ज़िंदगी WORDS mixedCase हिन्दीABC', "क्षत्रिय's", 'MÜNCHEN’S STRASSE',
];

const POOL = [...' \n\taeiouxyzAEZ0123456789.,;:!?-_()[]{}<>/\\\'"éüñßøåçœ中文日本語한국어😀🎉👍🏽🇫🇷αβγ∑∫√∞€£¥₹\u00a0\u2028\u0301\u093f'];

export function tokenizerTexts(nRandom = 150) {
  const out = [...FIXED];
  let x = 12345;
  for (let i = 0; i < nRandom; i++) {
    x = xorshift32(x);
    let s = '';
    for (let j = 0, n = 1 + (x % 60); j < n; j++) {
      x = xorshift32(x);
      s += POOL[x % POOL.length];
    }
    out.push(s);
  }
  return out;
}

// Token ids of every text from llama.cpp (vocab-only load of file, special
// tokens parsed, no BOS added) and from the HF tokenizer; returns the texts
// whose ids differ, with both id lists.
export async function tokenMismatches(llama, file, hfDir, texts) {
  const fs = await import('node:fs');
  const path = await import('node:path');
  const { TokenizerLoader } = await import('@lenml/tokenizers');
  const hf = TokenizerLoader.fromPreTrained({
    tokenizerJSON: JSON.parse(fs.readFileSync(path.join(hfDir, 'tokenizer.json'), 'utf8')),
    tokenizerConfig: JSON.parse(fs.readFileSync(path.join(hfDir, 'tokenizer_config.json'), 'utf8')),
  });
  const model = await llama.loadModel({ modelPath: file, vocabOnly: true });
  try {
    const bad = [];
    for (const t of texts) {
      const want = hf.encode(t, { add_special_tokens: false });
      const got = Array.from(model.tokenize(t, true));
      if (JSON.stringify(want) !== JSON.stringify(got)) bad.push({ text: t, want, got });
    }
    return bad;
  } finally { await model.dispose(); }
}
