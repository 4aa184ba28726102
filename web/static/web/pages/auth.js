// Sign in, register, verify e-mail (OTP), change password.

import { changePassword, post, refreshUser, register as registerUser, signIn, whoami } from "../api.js";
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
  form.querySelector("input")?.focus();
  return form;
}

const safeNext = (ctx) => {
  const next = ctx.query.get("next") || "/";
  return next.startsWith("/") && !next.startsWith("//") ? next : "/";
};

export function signin(ctx) {
  ctx.title("Sign in");
  authForm(ctx, {
    title: "Sign in",
    submit: "Sign in",
    fields: [
      field("E-mail or username", input("identifier", "text", { autocomplete: "username", required: true })),
      field("Password", input("password", "password", { autocomplete: "current-password", required: true })),
    ],
    after: h("p", { class: "muted" }, "New here? ", h("a", { href: "/register" }, "Create an account")),
    async onSubmit(data) {
      await signIn(data.get("identifier").trim(), data.get("password"));
      ctx.navigate(safeNext(ctx), { replace: true });
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
