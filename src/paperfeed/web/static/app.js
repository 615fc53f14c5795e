// paperfeed: math rendering, and ratings without a page reload (forms work without JS too).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  if (window.renderMathInElement) {
    for (const el of document.querySelectorAll(".math")) {
      // trust stays off: \href, \url and HTML extensions in an abstract render as text.
      window.renderMathInElement(el, {
        delimiters: [
          { left: "$$", right: "$$", display: true },
          { left: "\\[", right: "\\]", display: true },
          { left: "$", right: "$", display: false },
          { left: "\\(", right: "\\)", display: false },
        ],
        throwOnError: false,
        trust: false,
      });
    }
  }

  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.submit());
  }

  const csrf = document.querySelector("main")?.dataset.csrf;
  for (const box of document.querySelectorAll(".rate[data-profile]")) {
    box.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = event.submitter;
      const signal = button.value;
      const response = await fetch("/api/rate", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ profile: box.dataset.profile, paper: box.dataset.paper, signal }),
      });
      if (!response.ok) {
        button.textContent = "Failed — retry";
        return;
      }
      for (const b of box.querySelectorAll("button")) b.classList.toggle("on", b === button);
      if (signal === "hide" || signal === "down") box.closest("article")?.classList.add("dimmed");
    });
  }
});
