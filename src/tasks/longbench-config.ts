/**
 * LongBench v1 configuration, written by the project from the official values (THUDM/LongBench @ 2e00731,
 * LongBench/config/dataset2prompt.json and dataset2maxlen.json, metrics from eval.py, chat-template and
 * first-line rules from pred.py / eval.py). Prompt templates are copied verbatim, typos included
 * ("asconcisely"); test/tasks/longbench-config.test.ts checks them against the JSON files in shared data.
 */
import type { MetricName } from './metrics/index.ts';

export interface LongBenchDatasetConfig {
  /** Python format string with {context} and (except summaries and lcc) {input} */
  prompt: string;
  maxNewTokens: number;
  metric: MetricName;
  /** pred.py applies the chat template to every dataset except trec, triviaqa, samsum, lsht, lcc, repobench-p */
  chatTemplate: boolean;
  /** eval.py keeps only the first line of the prediction for trec, triviaqa, samsum, lsht */
  firstLine: boolean;
  language: 'en' | 'zh' | 'code';
}

export const LONGBENCH_DATASETS = {
  narrativeqa: {
    prompt:
      'You are given a story, which can be either a novel or a movie script, and a question. Answer the question asconcisely as you can, using a single phrase if possible. Do not provide any explanation.\n\nStory: {context}\n\nNow, answer the question based on the story asconcisely as you can, using a single phrase if possible. Do not provide any explanation.\n\nQuestion: {input}\n\nAnswer:',
    maxNewTokens: 128,
    metric: 'qa_f1',
    chatTemplate: true,
    firstLine: false,
    language: 'en',
  },
  qasper: {
    prompt:
      'You are given a scientific article and a question. Answer the question as concisely as you can, using a single phrase or sentence if possible. If the question cannot be answered based on the information in the article, write "unanswerable". If the question is a yes/no question, answer "yes", "no", or "unanswerable". Do not provide any explanation.\n\nArticle: {context}\n\n Answer the question based on the above article as concisely as you can, using a single phrase or sentence if possible. If the question cannot be answered based on the information in the article, write "unanswerable". If the question is a yes/no question, answer "yes", "no", or "unanswerable". Do not provide any explanation.\n\nQuestion: {input}\n\nAnswer:',
    maxNewTokens: 128,
    metric: 'qa_f1',
    chatTemplate: true,
    firstLine: false,
    language: 'en',
  },
  multifieldqa_en: {
    prompt:
      'Read the following text and answer briefly.\n\n{context}\n\nNow, answer the following question based on the above text, only give me the answer and do not output any other words.\n\nQuestion: {input}\nAnswer:',
    maxNewTokens: 64,
    metric: 'qa_f1',
    chatTemplate: true,
    firstLine: false,
    language: 'en',
  },
  multifieldqa_zh: {
    prompt: '阅读以下文字并用中文简短回答：\n\n{context}\n\n现在请基于上面的文章回答下面的问题，只告诉我答案，不要输出任何其他字词。\n\n问题：{input}\n回答：',
    maxNewTokens: 64,
    metric: 'qa_f1_zh',
    chatTemplate: true,
    firstLine: false,
    language: 'zh',
  },
  hotpotqa: {
    prompt:
      'Answer the question based on the given passages. Only give me the answer and do not output any other words.\n\nThe following are given passages.\n{context}\n\nAnswer the question based on the given passages. Only give me the answer and do not output any other words.\n\nQuestion: {input}\nAnswer:',
    maxNewTokens: 32,
    metric: 'qa_f1',
    chatTemplate: true,
    firstLine: false,
    language: 'en',
  },
  '2wikimqa': {
    prompt:
      'Answer the question based on the given passages. Only give me the answer and do not output any other words.\n\nThe following are given passages.\n{context}\n\nAnswer the question based on the given passages. Only give me the answer and do not output any other words.\n\nQuestion: {input}\nAnswer:',
    maxNewTokens: 32,
    metric: 'qa_f1',
    chatTemplate: true,
    firstLine: false,
    language: 'en',
  },
  musique: {
    prompt:
      'Answer the question based on the given passages. Only give me the answer and do not output any other words.\n\nThe following are given passages.\n{context}\n\nAnswer the question based on the given passages. Only give me the answer and do not output any other words.\n\nQuestion: {input}\nAnswer:',
    maxNewTokens: 32,
    metric: 'qa_f1',
    chatTemplate: true,
    firstLine: false,
    language: 'en',
  },
  dureader: {
    prompt: '请基于给定的文章回答下述问题。\n\n文章：{context}\n\n请基于上述文章回答下面的问题。\n\n问题：{input}\n回答：',
    maxNewTokens: 128,
    metric: 'rouge_zh',
    chatTemplate: true,
    firstLine: false,
    language: 'zh',
  },
  gov_report: {
    prompt:
      'You are given a report by a government agency. Write a one-page summary of the report.\n\nReport:\n{context}\n\nNow, write a one-page summary of the report.\n\nSummary:',
    maxNewTokens: 512,
    metric: 'rouge',
    chatTemplate: true,
    firstLine: false,
    language: 'en',
  },
  qmsum: {
    prompt:
      'You are given a meeting transcript and a query containing a question or instruction. Answer the query in one or more sentences.\n\nTranscript:\n{context}\n\nNow, answer the query based on the above meeting transcript in one or more sentences.\n\nQuery: {input}\nAnswer:',
    maxNewTokens: 512,
    metric: 'rouge',
    chatTemplate: true,
    firstLine: false,
    language: 'en',
  },
  multi_news: {
    prompt:
      'You are given several news passages. Write a one-page summary of all news. \n\nNews:\n{context}\n\nNow, write a one-page summary of all the news.\n\nSummary:',
    maxNewTokens: 512,
    metric: 'rouge',
    chatTemplate: true,
    firstLine: false,
    language: 'en',
  },
  vcsum: {
    prompt: '下面有一段会议记录，请你阅读后，写一段总结，总结会议的内容。\n会议记录：\n{context}\n\n会议总结：',
    maxNewTokens: 512,
    metric: 'rouge_zh',
    chatTemplate: true,
    firstLine: false,
    language: 'zh',
  },
  trec: {
    prompt: 'Please determine the type of the question below. Here are some examples of questions.\n\n{context}\n{input}',
    maxNewTokens: 64,
    metric: 'classification',
    chatTemplate: false,
    firstLine: true,
    language: 'en',
  },
  triviaqa: {
    prompt:
      'Answer the question based on the given passage. Only give me the answer and do not output any other words. The following are some examples.\n\n{context}\n\n{input}',
    maxNewTokens: 32,
    metric: 'qa_f1',
    chatTemplate: false,
    firstLine: true,
    language: 'en',
  },
  samsum: {
    prompt: 'Summarize the dialogue into a few short sentences. The following are some examples.\n\n{context}\n\n{input}',
    maxNewTokens: 128,
    metric: 'rouge',
    chatTemplate: false,
    firstLine: true,
    language: 'en',
  },
  lsht: {
    prompt: '请判断给定新闻的类别，下面是一些例子。\n\n{context}\n{input}',
    maxNewTokens: 64,
    metric: 'classification',
    chatTemplate: false,
    firstLine: true,
    language: 'zh',
  },
  passage_count: {
    prompt:
      'There are some paragraphs below sourced from Wikipedia. Some of them may be duplicates. Please carefully read these paragraphs and determine how many unique paragraphs there are after removing duplicates. In other words, how many non-repeating paragraphs are there in total?\n\n{context}\n\nPlease enter the final count of unique paragraphs after removing duplicates. The output format should only contain the number, such as 1, 2, 3, and so on.\n\nThe final answer is: ',
    maxNewTokens: 32,
    metric: 'count',
    chatTemplate: true,
    firstLine: false,
    language: 'en',
  },
  passage_retrieval_en: {
    prompt:
      'Here are 30 paragraphs from Wikipedia, along with an abstract. Please determine which paragraph the abstract is from.\n\n{context}\n\nThe following is an abstract.\n\n{input}\n\nPlease enter the number of the paragraph that the abstract is from. The answer format must be like "Paragraph 1", "Paragraph 2", etc.\n\nThe answer is: ',
    maxNewTokens: 32,
    metric: 'retrieval',
    chatTemplate: true,
    firstLine: false,
    language: 'en',
  },
  passage_retrieval_zh: {
    prompt:
      '以下是若干段落文字，以及其中一个段落的摘要。请确定给定的摘要出自哪一段。\n\n{context}\n\n下面是一个摘要\n\n{input}\n\n请输入摘要所属段落的编号。答案格式必须是"段落1"，"段落2"等格式\n\n答案是：',
    maxNewTokens: 32,
    metric: 'retrieval_zh',
    chatTemplate: true,
    firstLine: false,
    language: 'zh',
  },
  lcc: {
    prompt: 'Please complete the code given below. \n{context}Next line of code:\n',
    maxNewTokens: 64,
    metric: 'code_sim',
    chatTemplate: false,
    firstLine: false,
    language: 'code',
  },
  'repobench-p': {
    prompt: 'Please complete the code given below. \n{context}{input}Next line of code:\n',
    maxNewTokens: 64,
    metric: 'code_sim',
    chatTemplate: false,
    firstLine: false,
    language: 'code',
  },
} as const satisfies Record<string, LongBenchDatasetConfig>;

export type LongBenchDataset = keyof typeof LONGBENCH_DATASETS;

export const LONGBENCH_DATASET_NAMES = Object.keys(LONGBENCH_DATASETS) as LongBenchDataset[];

export function isLongBenchDataset(name: string): name is LongBenchDataset {
  return Object.hasOwn(LONGBENCH_DATASETS, name);
}
