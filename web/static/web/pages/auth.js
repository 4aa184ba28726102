// Sign in (with its two-factor step), register, verify e-mail (OTP), change password,
// forgotten password (request a reset code, then set a new password with it).

import { changePassword, post, publicPost, refreshUser, register as registerUser, signIn, verifyTwoFactor, whoami } from "../api.js";
import { field, h, notice, replace, showFieldErrors } from "../dom.js";

function input(name, type = "text", attrs = {}) {
  return h("input", { name, type, ...attrs });
}

function authForm(ctx, { title, fields, submit, onSubmit, after }) {
  const general = h("div", { class: "form-general", tabindex: "-1" });
  const button = h("button", { type: "submit", class: "primary" }, submit);
  const form = h("form", { class: "card narrow", novalidate: true }, h("h1", {}, title), general, fields, h("div", { class: "actions" }, button), after);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    replace(general);
    try {
      await onSubmit(new FormData(form), general);
    } catch (error) {
      if (!ctx.alive()) return;
      if (error.status === 429 && error.retryAfter) error.details = {}, (error.message = `${error.message} Try again in ${error.retryAfter} s.`);
      showFieldErrors(form, error, general);
    } finally {
      button.disabled = false;
    }
  });
  replace(ctx.main, form);
  form.querySelector("input:not([type=hidden])")?.focus();
  return form;
}

const safeNext = (ctx) => {
  const next = ctx.query.get("next") || "/";
  return next.startsWith("/") && !next.startsWith("//") ? next : "/";
};

// Why the sign-in page was opened (a query flag set by the page that sent the user here).
const SIGNIN_NOTES = {
  reset: "Your password was changed and every session signed out. Sign in with the new password.",
  closed: "Your account is closed; every session has ended.",
  signedout: "You were signed out.",
};

export function signin(ctx, message = null) {
  ctx.title("Sign in");
  const flag = Object.keys(SIGNIN_NOTES).find((k) => ctx.query.get(k));
  const note = message || (flag ? SIGNIN_NOTES[flag] : null);
  authForm(ctx, {
    title: "Sign in",
    submit: "Sign in",
    fields: [
      note ? notice(note, message ? "error" : "info") : null,
      field("E-mail or username", input("identifier", "text", { autocomplete: "username", required: true })),
      field("Password", input("password", "password", { autocomplete: "current-password", required: true })),
    ],
    after: h("p", { class: "muted" }, h("a", { href: "/forgot-password" }, "Forgot your password?"), " · New here? ", h("a", { href: "/register" }, "Create an account")),
    async onSubmit(data) {
      const answer = await signIn(data.get("identifier").trim(), data.get("password"));
      if (answer && answer.challenge) return secondStep(ctx, answer.challenge);
      ctx.navigate(safeNext(ctx), { replace: true });
    },
  });
}

// Two-factor sign-in: the challenge from the password step, and a code from the app or a recovery code.
function secondStep(ctx, challenge) {
  let recovery = false;
  const codeInput = () =>
    recovery
      ? field("Recovery code", input("recovery_code", "text", { autocomplete: "off", spellcheck: "false", required: true }), { hint: "One of the ten codes saved when two-factor sign-in was turned on; each works once." })
      : field("Code", input("code", "text", { inputmode: "numeric", autocomplete: "one-time-code", pattern: "[0-9]{6}", maxlength: "6", required: true }), { hint: "The 6-digit code your authenticator app shows." });
  const slot = h("div", {}, codeInput());
  const toggle = h("button", { type: "button", class: "link", id: "use-recovery" }, "Use a recovery code instead");
  toggle.addEventListener("click", () => {
    recovery = !recovery;
    toggle.textContent = recovery ? "Use the authenticator app instead" : "Use a recovery code instead";
    replace(slot, codeInput());
    slot.querySelector("input").focus();
  });
  authForm(ctx, {
    title: "Two-factor sign-in",
    submit: "Verify",
    fields: [slot],
    after: h("p", { class: "muted" }, toggle, " · ", h("a", { href: "/signin" }, "Start again")),
    async onSubmit(data) {
      const codes = recovery ? { recovery_code: data.get("recovery_code").trim() } : { code: data.get("code").trim() };
      try {
        await verifyTwoFactor(challenge, codes);
      } catch (error) {
        if (error.code === "CHALLENGE_INVALID") return signin(ctx, error.message);
        throw error;
      }
      ctx.navigate(safeNext(ctx), { replace: true });
    },
  });
}

export function forgot(ctx) {
  ctx.title("Forgotten password");
  authForm(ctx, {
    title: "Forgotten password",
    submit: "Send a reset code",
    fields: [h("p", { class: "muted" }, "We e-mail a code (and a link) to reset it, if an account uses this address."), field("E-mail", input("email", "email", { autocomplete: "email", required: true }))],
    after: h("p", { class: "muted" }, h("a", { href: "/reset-password" }, "I have a code"), " · ", h("a", { href: "/signin" }, "Sign in")),
    async onSubmit(data, general) {
      const answer = await publicPost("auth/password-reset", { email: data.get("email").trim() });
      replace(general, notice(answer.message, "info"));
    },
  });
}

export function reset(ctx) {
  ctx.title("Reset password");
  // The link's token is kept in memory only: the address bar and history lose it at once.
  const fromLink = ctx.query.get("token");
  if (fromLink) history.replaceState({}, "", "/reset-password");
  authForm(ctx, {
    title: "Choose a new password",
    submit: "Set the password",
    fields: [
      fromLink ? [h("p", { class: "muted" }, "The code from your e-mail is filled in."), input("token", "hidden", { value: fromLink })] : field("Code from the e-mail", input("token", "text", { autocomplete: "off", spellcheck: "false", required: true })),
      field("New password", input("new_password", "password", { autocomplete: "new-password", required: true }), { hint: "At least 8 characters; not a common one. Every session is signed out." }),
    ],
    after: h("p", { class: "muted" }, h("a", { href: "/forgot-password" }, "Send a new code")),
    async onSubmit(data) {
      await publicPost("auth/password-reset/confirm", { token: data.get("token").trim(), new_password: data.get("new_password") });
      ctx.navigate("/signin?reset=1", { replace: true });
    },
  });
}

export function register(ctx) {
  ctx.title("Register");
  authForm(ctx, {
    title: "Create an account",
    submit: "Register",
    fields: [
      field("E-mail", input("email", "email", { autocomplete: "email", required: true })),
      field("Name", input("full_name", "text", { autocomplete: "name" }), { hint: "Optional." }),
      field("Password", input("password", "password", { autocomplete: "new-password", required: true }), { hint: "At least 8 characters; not a common one." }),
    ],
    after: h("p", { class: "muted" }, "Already registered? ", h("a", { href: "/signin" }, "Sign in")),
    async onSubmit(data) {
      const body = { email: data.get("email").trim(), password: data.get("password") };
      if (data.get("full_name").trim()) body.full_name = data.get("full_name").trim();
      const user = await registerUser(body);
      try {
        await post("auth/send-otp", { identifier: user.email });
      } catch {
        // The verify page offers to send it again.
      }
      ctx.navigate("/verify?sent=1", { replace: true });
    },
  });
}

export async function verify(ctx) {
  ctx.title("Verify e-mail");
  const user = await whoami();
  if (!ctx.alive()) return;
  if (user.is_verified) {
    replace(ctx.main, h("div", { class: "card narrow" }, h("h1", {}, "E-mail verified"), h("p", {}, `${user.email} is verified.`), h("a", { href: "/" }, "Go to the overview")));
    return;
  }
  const status = h("div", { role: "status" }, ctx.query.get("sent") ? notice(`A 6-digit code was sent to ${user.email}. It expires in 10 minutes.`, "info") : "");
  const resend = h("button", { type: "button", class: "link" }, "Send a new code");
  resend.addEventListener("click", async () => {
    resend.disabled = true;
    try {
      const answer = await post("auth/send-otp", { identifier: user.email });
      replace(status, notice(answer.message || "A new code was sent.", "info"));
    } catch (error) {
      replace(status, notice(error.retryAfter ? `${error.message} Try again in ${error.retryAfter} s.` : error.message));
    } finally {
      resend.disabled = false;
    }
  });
  authForm(ctx, {
    title: "Verify your e-mail",
    submit: "Verify",
    fields: [status, field("Code", input("otp_code", "text", { inputmode: "numeric", autocomplete: "one-time-code", pattern: "[0-9]{6}", maxlength: "6", required: true }), { hint: `Sent to ${user.email}.` })],
    after: h("p", { class: "muted" }, resend),
    async onSubmit(data) {
      await post("auth/verify-otp", { identifier: user.email, otp_code: data.get("otp_code").trim() });
      await refreshUser();
      ctx.navigate("/", { replace: true });
    },
  });
}

export function password(ctx) {
  ctx.title("Change password");
  authForm(ctx, {
    title: "Change password",
    submit: "Change password",
    fields: [
      field("Current password", input("old_password", "password", { autocomplete: "current-password", required: true })),
      field("New password", input("new_password", "password", { autocomplete: "new-password", required: true }), { hint: "Your other sessions are signed out." }),
    ],
    after: null,
    async onSubmit(data, general) {
      const answer = await changePassword(data.get("old_password"), data.get("new_password"));
      for (const el of ctx.main.querySelectorAll("input")) el.value = "";
      replace(general, notice(answer.message || "Password changed.", "info"));
    },
  });
}
