// Sensitive actions (creating API tokens, closing the account, saving or deleting keys) ask for
// a current authenticator code when two-factor sign-in is on: the API answers 403
// TWO_FACTOR_CODE_REQUIRED, this asks for the code in a dialog and sends the request again
// with it in the X-2FA-Code header. Without 2FA the first request simply succeeds.

import { ApiError } from "./api.js";
import { field, h, notice, replace } from "./dom.js";

const ASKS = new Set(["TWO_FACTOR_CODE_REQUIRED", "TWO_FACTOR_CODE_INVALID"]);

// `call(headers)` makes the request; its result is returned. Cancelling the dialog throws.
export async function withFreshCode(call, what = "This action") {
  try {
    return await call({});
  } catch (error) {
    if (!ASKS.has(error.code)) throw error;
    let last = error.code === "TWO_FACTOR_CODE_INVALID" ? error : null;
    for (;;) {
      const code = await askCode(what, last);
      if (code === null) throw new ApiError(403, { error: { code: "CANCELLED", message: "Cancelled: no authenticator code was given." } });
      try {
        return await call({ "X-2FA-Code": code });
      } catch (again) {
        if (again.code !== "TWO_FACTOR_CODE_INVALID") throw again;
        last = again;
      }
    }
  }
}

function askCode(what, error) {
  return new Promise((resolve) => {
    const input = h("input", { name: "fresh_code", inputmode: "numeric", autocomplete: "one-time-code", maxlength: "32", required: true, spellcheck: "false" });
    const general = h("div", { class: "form-general" }, error ? notice(error.message) : "");
    const cancel = h("button", { type: "button" }, "Cancel");
    const form = h(
      "form",
      { method: "dialog", novalidate: true },
      h("h2", {}, "Authenticator code"),
      h("p", { class: "muted" }, `${what} needs a current code from your authenticator app (or a recovery code).`),
      general,
      field("Code", input),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Confirm"), cancel),
    );
    const dialog = h("dialog", { class: "fresh-code", "aria-label": "Authenticator code" }, form);
    let answer = null;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const value = input.value.trim();
      if (!value) {
        replace(general, notice("Enter the code."));
        input.focus();
        return;
      }
      answer = value;
      dialog.close();
    });
    cancel.addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(answer);
    });
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  });
}

// A value shown once (a token, a secret, recovery codes), with a button that copies it.
export function shownOnce(label, value, { cls = "once" } = {}) {
  const code = h("code", { class: `${cls}-value` }, value);
  const status = h("span", { class: "muted", role: "status" });
  const copy = h("button", { type: "button", class: "copy" }, "Copy");
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(value);
      status.textContent = " Copied.";
    } catch {
      const range = document.createRange();
      range.selectNodeContents(code);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      status.textContent = " Selected: copy it with Ctrl+C.";
    }
  });
  return h("div", { class: `shown-once ${cls}`, role: "region", "aria-label": label }, h("p", {}, h("strong", {}, label), " — shown this once; it cannot be shown again."), h("div", { class: "once-row" }, code, " ", copy, status));
}
