// The page of the kkiai-async web example: send the conversation, render the events.
//
// POST /chat answers with text/event-stream: one `data: {json}` line per event, each a
// kkiai-async stream event (text.delta, tool_call.started, tool_call.arguments.delta,
// tool_call.done, choice.finished, usage) or one of the app's own (round.started,
// tool.result, error, done). fetch() rather than EventSource: see app.py's docstring.
"use strict";

const log = document.getElementById("log");
const form = document.getElementById("composer");
const input = document.getElementById("input");
const sendButton = document.getElementById("send");
const stopButton = document.getElementById("stop");
const statusLine = document.getElementById("status");

// Only the user's and the assistant's words: the server adds the rest.
const history = [];
let controller = null;

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  // textContent, never innerHTML: model output is text, not markup.
  if (text !== undefined) node.textContent = text;
  return node;
}

function scrollDown() {
  log.scrollTop = log.scrollHeight;
}

function pretty(value) {
  return JSON.stringify(value, null, 2);
}

// One question and everything the server streams back for it.
class Turn {
  constructor(question) {
    document.getElementById("empty")?.remove();
    log.append(element("div", "bubble user", question));
    this.node = element("section", "turn streaming");
    this.node.dataset.deltas = "0";
    log.append(this.node);
    this.segment = null; // the text bubble deltas currently go to
    this.tools = new Map(); // tool call id (or index) -> its card
    this.texts = [];
    this.tokens = 0;
  }

  text(delta) {
    if (this.segment === null) {
      this.segment = element("div", "bubble assistant");
      this.node.append(this.segment);
    }
    this.segment.append(delta);
    this.node.dataset.deltas = String(Number(this.node.dataset.deltas) + 1);
  }

  card(event) {
    const key = event.id ?? `index-${event.index}`;
    let card = this.tools.get(key);
    if (card === undefined) {
      card = {
        root: element("div", "tool running"),
        state: element("span", "tool-state", "calling"),
        args: element("dl", "tool-args"),
        raw: element("pre", "tool-raw", ""),
        result: element("pre", "tool-result"),
      };
      const head = element("div", "tool-head");
      head.append(element("span", "tool-label", "tool call"),
        element("code", "tool-name", event.name), card.state);
      card.result.hidden = true;
      card.root.append(head, card.args, card.raw, card.result);
      card.root.dataset.name = event.name;
      this.tools.set(key, card);
      this.node.append(card.root);
      this.segment = null; // text after the call goes below it
    }
    return card;
  }

  showArguments(card, parsed) {
    // The arguments parsed so far: values grow while the JSON is still incomplete.
    card.args.replaceChildren();
    if (parsed === null || typeof parsed !== "object") return;
    for (const [name, value] of Object.entries(parsed)) {
      card.args.append(element("dt", "", name),
        element("dd", "", typeof value === "string" ? value : JSON.stringify(value)));
    }
  }

  handle(event) {
    switch (event.type) {
      case "round.started":
        this.segment = null;
        break;
      case "text.delta":
        this.text(event.delta);
        break;
      case "text.done":
        this.texts.push(event.text);
        break;
      case "tool_call.started":
        this.card(event);
        break;
      case "tool_call.arguments.delta": {
        const card = this.card(event);
        card.raw.append(event.delta);
        this.showArguments(card, event.parsed_arguments);
        break;
      }
      case "tool_call.done": {
        const card = this.card(event);
        card.raw.textContent = event.arguments;
        this.showArguments(card, event.parsed_arguments);
        card.state.textContent = event.error ? "bad arguments" : "running";
        break;
      }
      case "tool.result": {
        const card = this.card(event);
        let shown = event.content;
        try {
          shown = pretty(JSON.parse(event.content));
        } catch {
          // not JSON: shown as the tool wrote it
        }
        card.result.textContent = shown;
        card.result.hidden = false;
        card.state.textContent = "done";
        card.root.classList.replace("running", "done");
        break;
      }
      case "usage":
        this.tokens += event.usage.total_tokens ?? 0;
        break;
      case "error":
        this.node.append(element("div", "error", event.message));
        break;
      case "done":
        this.node.classList.add("done");
        break;
      default:
        break; // choice.finished, refusal and reasoning events: not shown here
    }
    scrollDown();
  }

  finish(note) {
    this.node.classList.remove("streaming");
    const meta = [];
    if (this.tools.size) meta.push(`${this.tools.size} tool call${this.tools.size > 1 ? "s" : ""}`);
    if (this.tokens) meta.push(`${this.tokens} tokens`);
    if (note) meta.push(note);
    if (meta.length) this.node.append(element("div", "meta", meta.join(" · ")));
    scrollDown();
  }
}

// Split the body into events. The server writes only `\n` line ends and one `data:`
// line per event, so this is exact for this endpoint (not a general SSE parser).
async function* events(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of block.split("\n")) {
        if (line.startsWith("data: ")) yield JSON.parse(line.slice(6));
      }
    }
  }
}

function busy(on) {
  sendButton.hidden = on;
  stopButton.hidden = !on;
  input.disabled = on;
  statusLine.textContent = on ? "streaming…" : "";
}

async function ask(question) {
  history.push({ role: "user", content: question });
  const turn = new Turn(question);
  controller = new AbortController();
  busy(true);
  let note = "";
  try {
    const response = await fetch("/chat", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ messages: history }),
      signal: controller.signal,
    });
    if (!response.ok) {
      const problem = await response.json().catch(() => ({ error: response.statusText }));
      turn.handle({ type: "error", message: problem.error });
    } else {
      for await (const event of events(response.body)) turn.handle(event);
    }
  } catch (error) {
    if (error.name === "AbortError") note = "stopped";
    else turn.handle({ type: "error", message: String(error) });
  } finally {
    if (turn.texts.length) history.push({ role: "assistant", content: turn.texts.join("\n\n") });
    else history.pop(); // unanswered: do not send it again next time
    turn.finish(note);
    controller = null;
    busy(false);
    input.focus();
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const question = input.value.trim();
  if (!question || controller !== null) return;
  input.value = "";
  ask(question);
});

input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    form.requestSubmit();
  }
});

stopButton.addEventListener("click", () => controller?.abort());

for (const button of document.querySelectorAll(".suggestion")) {
  button.addEventListener("click", () => {
    input.value = button.textContent;
    form.requestSubmit();
  });
}

fetch("/info")
  .then((response) => response.json())
  .then((info) => {
    document.getElementById("backend").textContent = `${info.backend} · ${info.model}`;
  })
  .catch(() => {});

input.focus();
