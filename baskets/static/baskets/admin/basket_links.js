// The basket admin's "Copy" buttons next to the recovery and assisted links. A file, not inline:
// the admin's Content-Security-Policy allows no inline scripts. Without JavaScript the buttons
// stay hidden and the links remain selectable text.
"use strict";
(function () {
    function selectText(element) {
        const range = document.createRange();
        range.selectNodeContents(element);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
    }

    function announce(button, text) {
        const status = button.parentElement.querySelector(".basket-link-status");
        if (status) {
            status.textContent = text;
        }
    }

    function copy(button) {
        const link = button.dataset.link;
        const target = document.getElementById(button.dataset.copyTarget);
        if (navigator.clipboard && window.isSecureContext) {
            navigator.clipboard.writeText(link).then(
                function () {
                    button.dataset.copied = "true";
                    announce(button, "Copied");
                },
                function () {
                    selectText(target);
                    announce(button, "Selected: press Ctrl+C to copy");
                }
            );
        } else {
            selectText(target);
            announce(button, "Selected: press Ctrl+C to copy");
        }
    }

    document.addEventListener("DOMContentLoaded", function () {
        document.querySelectorAll(".basket-link-copy").forEach(function (button) {
            button.hidden = false;
            button.addEventListener("click", function () {
                copy(button);
            });
        });
    });
})();
