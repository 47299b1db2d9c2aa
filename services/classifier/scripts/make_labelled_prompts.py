# ruff: noqa: E501  (data tables and report strings read better unwrapped)
"""Write services/classifier/data/labelled_prompts.jsonl — the project's own labelled prompts.

Prompts for all 12 NVIDIA task types, written as templates with varied fillers (topics,
passages, tones, constraints, few-shot counts). Each template carries its labels for the
complexity dimensions, chosen by hand from NVIDIA's definitions:

- creativity: "high" (open-ended creative writing), "medium" (some freedom: ideas, tone
  changes), "none" (factual, a single right answer);
- reasoning: 1 when the answer needs multi-step logic or computation;
- contextual: 1 when answering needs context from outside the prompt (earlier turns of a
  conversation, the user's account or order, a document that is referred to but not
  included); prompts that carry their own passage or data are 0 (NVIDIA's card scores its
  summarise-this-passage example 0.003);
- few_shots: number of worked examples in the prompt (0-5);
- domain: 0 (everyday), 0.33 (general knowledge), 0.67 (specialist field), 1.0 (expert or
  programming knowledge);
- constrained: 1 when the prompt sets explicit output constraints (length, format, count,
  style, required words).

Every template is a ``group``: whole groups are held out (``split`` = "test") so accuracy
is measured on phrasings the heads never saw. Deterministic (fixed seed); re-run after
editing and commit both files.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "data" / "labelled_prompts.jsonl"
SEED = 20261123
PER_TEMPLATE = 7

PASSAGES = {
    "antibiotics": "Antibiotics are medicines that fight bacterial infections by killing bacteria or stopping them from multiplying. They do not work against viruses such as the common cold, and taking them when they are not needed helps bacteria become resistant.",
    "meeting": "Notes from Tuesday's product sync: Priya will finish the billing export by March 14. Tom raised that the mobile login bug affects about 3% of Android users; a fix is planned for release 4.2. Budget for the Q3 ad campaign was cut from $40,000 to $28,000. Next sync moves to Thursday at 10:00.",
    "lease": "The Tenant shall pay rent of EUR 1,450 on the first business day of each month. The Tenant may terminate this agreement with three months' written notice, but not before 31 December 2025. Pets are permitted only with the Landlord's prior written consent. The security deposit equals two months' rent and is returned within 30 days of the end of the tenancy.",
    "review": "I bought the X200 headphones last month. The noise cancelling is excellent on trains and the battery easily lasts a week, but the ear cushions get hot after an hour and the app keeps logging me out. Customer service replaced a faulty cable within two days.",
    "history": "The printing press, developed by Johannes Gutenberg around 1440 in Mainz, used movable metal type and oil-based ink. Within fifty years, presses operated in more than two hundred European cities, and the price of books fell sharply, which helped spread literacy and the ideas of the Reformation.",
    "abstract": "We study the effect of sleep restriction on working memory in 120 adults. Participants limited to five hours of sleep for four nights scored 18% lower on an n-back task than controls, and the deficit persisted after one night of recovery sleep. Caffeine reduced reaction times but did not restore accuracy.",
    "email": "Hi team, the office will be closed on Friday for maintenance of the heating system. Please take your laptops home on Thursday evening. The VPN will be available as usual, and the support line will forward calls to Marta's mobile. Thanks, Daniel",
    "incident": "At 02:14 UTC the primary database ran out of disk space after a log rotation job failed. Writes failed for 37 minutes until on-call engineers freed space and restarted the replica sync. No data was lost. Action items: alert at 80% disk usage, and fix the rotation job's cron schedule.",
    "recipe": "Whisk two eggs with 200 ml of milk and 120 g of flour until smooth. Let the batter rest for 20 minutes. Heat a buttered pan, pour a thin layer, cook for one minute per side, and serve with lemon and sugar.",
    "job": "We are hiring a senior data engineer in Lisbon (hybrid, three office days a week). You will own our Kafka and Spark pipelines, mentor two juniors and work with the analytics team. Requirements: five years of experience, Python and SQL, and fluent English. Salary range EUR 65k-80k.",
    "climate": "Global average surface temperature in 2023 was about 1.45 degrees Celsius above the pre-industrial baseline, the warmest year on record. Scientists attribute most of the rise to greenhouse gas emissions, with an additional boost from the El Nino pattern that developed during the year.",
    "support_chat": "Customer: my order #55102 arrived with a cracked screen. Agent: sorry to hear that, can you send a photo? Customer: sent it yesterday by email. Agent: thanks, I see it, we will ship a replacement today and email a return label.",
}
TOPICS = [
    "a small bakery",
    "a mobile banking app",
    "a city library",
    "a climbing gym",
    "an online language school",
    "a local football club",
    "a vegan restaurant",
    "a bicycle repair shop",
    "a dental clinic",
    "a board game cafe",
    "an indie video game studio",
    "a recycling startup",
]
SUBJECTS = [
    "photosynthesis",
    "the French Revolution",
    "inflation",
    "black holes",
    "the immune system",
    "supply and demand",
    "plate tectonics",
    "the Roman Empire",
    "machine learning",
    "vaccines",
    "the water cycle",
    "compound interest",
]
EXPERT = [
    "the CAP theorem in distributed databases",
    "how mRNA vaccines trigger an immune response",
    "the difference between IFRS 16 and ASC 842 lease accounting",
    "why the Black-Scholes model assumes log-normal prices",
    "how CRISPR-Cas9 edits a genome",
    "the role of the Fed funds rate in monetary policy",
    "the proof idea behind Godel's incompleteness theorem",
    "the pharmacokinetics of warfarin",
]
LANGS = ["Python", "JavaScript", "Go", "Rust", "Java", "TypeScript", "C++", "SQL"]
CODE_TASKS = [
    "reverses a linked list",
    "checks whether a string is a palindrome",
    "parses a CSV file and sums the third column",
    "returns the n-th Fibonacci number iteratively",
    "merges two sorted arrays",
    "validates an email address",
    "counts word frequencies in a text",
    "implements binary search",
    "removes duplicates from a list while keeping order",
    "computes the moving average of a list of numbers",
    "flattens a nested list",
    "retries an HTTP request with exponential backoff",
]
CITIES = ["Lisbon", "Kyoto", "Buenos Aires", "Oslo", "Marrakesh", "Vancouver", "Prague", "Hanoi"]
OPEN_Q = [
    "Why is the sky blue?",
    "What causes the seasons on Earth?",
    "How do noise-cancelling headphones work?",
    "Who wrote Pride and Prejudice?",
    "What is the capital of Australia?",
    "How does a credit score work?",
    "Why do cats purr?",
    "What is the difference between weather and climate?",
    "How many bones are in the adult human body?",
    "What does a VPN do?",
    "When did the Berlin Wall fall?",
    "Is coffee bad for your heart?",
    "How do airplanes stay in the air?",
    "What is a Roth IRA?",
    "Why do we dream?",
    "What language is spoken in Brazil?",
]
CHAT = [
    "hi there! how's your day going?",
    "thanks, that was really helpful :)",
    "I'm bored, talk to me about anything",
    "good morning! can you keep me company while I cook?",
    "what's your favourite movie?",
    "lol that's funny, tell me another one",
    "I had a rough day at work and just want to vent a bit",
    "do you remember what we talked about earlier?",
    "hey, are you a real person?",
    "can we just chat for a while?",
    "I passed my driving test today!!",
    "ugh mondays. how do you cope?",
    "ok bye, talk tomorrow",
    "what should I call you?",
]
UNKNOWN = [
    "asdfgh",
    "?",
    "hmm",
    "the thing from before",
    "ok",
    "..",
    "blue 7 seventeen",
    "qwerty uiop",
    "idk",
    "same as last time but different",
    "zzz",
    "no",
    "test",
    "lorem ipsum dolor",
    "123",
    "yes please",
    "and?",
    "fix it",
    "whatever",
    "again",
]
OTHER = [
    ("Translate into French: '{sentence}'", 0, 0.33, 1),
    ("Translate this sentence into Japanese: {sentence}", 0, 0.33, 1),
    ("Convert {num} miles per hour to kilometres per hour.", 1, 0.0, 0),
    ("What is {a} multiplied by {b}?", 1, 0.0, 0),
    ("Set a reminder for my dentist appointment next {day} at 9am.", 0, 0.0, 0),
    ("Let's play tic-tac-toe. I'll be X and I take the center square.", 0, 0.0, 0),
    ("Act as a Linux terminal. My first command is pwd.", 0, 0.67, 1),
    ("Spell '{word}' backwards, letter by letter.", 0, 0.0, 1),
]
SENTENCES = [
    "The meeting has been moved to Thursday.",
    "Where is the nearest train station?",
    "I would like a table for two, please.",
    "The package will arrive tomorrow morning.",
    "Please keep the door closed.",
    "Our store opens at nine.",
]
WORDS = ["necessary", "rhythm", "Mississippi", "onomatopoeia", "bureaucracy", "queue"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
TONES = [
    "more formal",
    "friendlier",
    "more concise",
    "more persuasive",
    "suitable for a ten-year-old",
    "more polite",
]
SENTIMENT_EX = [
    ("The food was cold and the waiter was rude.", "negative"),
    ("Absolutely loved the concert, best night of the year!", "positive"),
    ("The hotel was fine, nothing special.", "neutral"),
    ("Shipping took three weeks and the box was damaged.", "negative"),
    ("Great value for the price, would buy again.", "positive"),
    ("It does what it says.", "neutral"),
]
TICKETS = [
    "I was charged twice for my subscription this month.",
    "The app crashes every time I open the camera.",
    "How do I change the email address on my account?",
    "My parcel says delivered but it is not here.",
    "Can I upgrade to the business plan mid-cycle?",
    "The password reset link has expired.",
    "Your website is down in Germany.",
]
PEOPLE = [
    "Dr. Maria Lopez, cardiologist at St. Anne's Hospital, Boston, phone 617-555-0142",
    "Kenji Watanabe (CTO, Hikari Robotics, Osaka) kenji.w@hikari.example",
    "Invoice 2024-118 from Nordic Timber AB, total SEK 48,900, due 15 May 2024",
    "Order placed 3 March by Ana Costa, 2x desk lamp (EUR 39 each), ship to Rua Augusta 12, Lisbon",
]


@dataclass
class Template:
    group: str
    task: str
    text: str
    creativity: str
    reasoning: int
    contextual: int  # superseded: contextual labels come from CONTEXT_OUTSIDE_GROUPS below
    domain: float
    constrained: int
    few_shots: int = 0


def fill(rng: random.Random, template: str) -> str:
    slots = {
        "topic": rng.choice(TOPICS),
        "subject": rng.choice(SUBJECTS),
        "expert": rng.choice(EXPERT),
        "lang": rng.choice(LANGS),
        "code_task": rng.choice(CODE_TASKS),
        "city": rng.choice(CITIES),
        "n": rng.choice([3, 5, 7, 10]),
        "words": rng.choice([50, 100, 150, 200, 300]),
        "tone": rng.choice(TONES),
        "ticket": rng.choice(TICKETS),
        "person": rng.choice(PEOPLE),
        "sentence": rng.choice(SENTENCES),
        "word": rng.choice(WORDS),
        "day": rng.choice(DAYS),
        "num": rng.choice([30, 55, 65, 80, 120]),
        "a": rng.randint(12, 999),
        "b": rng.randint(3, 99),
        "passage_key": "",
    }
    key = rng.choice(sorted(PASSAGES))
    slots["passage"] = PASSAGES[key]
    return template.format(**slots)


def few_shot_sentiment(rng: random.Random, k: int) -> str:
    examples = rng.sample(SENTIMENT_EX, k)
    query = rng.choice(
        [
            "The battery died after two days.",
            "Friendly staff and a lovely view.",
            "It arrived on time.",
        ]
    )
    shots = "\n\n".join(f"Review: {t}\nSentiment: {s}" for t, s in examples)
    return f"Classify the sentiment of each review as positive, negative or neutral.\n\n{shots}\n\nReview: {query}\nSentiment:"


def few_shot_extraction(rng: random.Random, k: int) -> str:
    pool = [
        ("Call Anna at 555-0199 tomorrow.", "555-0199"),
        ("Reach support on +1 212 555 0100.", "+1 212 555 0100"),
        ("My number changed to 020 7946 0958.", "020 7946 0958"),
        ("Text 555-0123 for the code.", "555-0123"),
        ("No phone here, just email me.", "none"),
        ("Office: 03-5555-0188, ext 12.", "03-5555-0188"),
    ]
    shots = rng.sample(pool, k)
    body = "\n\n".join(f"Text: {t}\nPhone: {p}" for t, p in shots)
    return f"Extract the phone number from the text.\n\n{body}\n\nText: The courier can be reached at 555-0147 after 5pm.\nPhone:"


def few_shot_rewrite(rng: random.Random, k: int) -> str:
    pool = [
        ("gonna be late, traffic is crazy", "I will be late because of heavy traffic."),
        ("cant make it tmrw sorry", "I am sorry, but I cannot attend tomorrow."),
        ("pls send the file asap", "Could you please send the file as soon as possible?"),
        ("meeting moved to 3 fyi", "For your information, the meeting has been moved to 3 pm."),
        ("thx for the help yesterday", "Thank you for your help yesterday."),
    ]
    shots = rng.sample(pool, k)
    body = "\n\n".join(f"Informal: {a}\nFormal: {b}" for a, b in shots)
    return f"Rewrite informal messages in a formal tone.\n\n{body}\n\nInformal: where r u, we started already\nFormal:"


def few_shot_qa(rng: random.Random, k: int) -> str:
    pool = [
        ("What is the capital of France?", "Paris"),
        ("What is the largest planet?", "Jupiter"),
        ("Who painted the Mona Lisa?", "Leonardo da Vinci"),
        ("What is the chemical symbol for gold?", "Au"),
        ("How many continents are there?", "Seven"),
        ("What is the boiling point of water at sea level in Celsius?", "100"),
    ]
    shots = rng.sample(pool, k)
    body = "\n".join(f"Q: {q}\nA: {a}" for q, a in shots)
    return f"{body}\nQ: {rng.choice(['Who discovered penicillin?', 'What is the tallest mountain on Earth?', 'Which ocean is the largest?'])}\nA:"


def few_shot_classify_ticket(rng: random.Random, k: int) -> str:
    pool = [
        ("I was billed twice.", "billing"),
        ("The app freezes on startup.", "bug"),
        ("How do I export my data?", "how-to"),
        ("Please close my account.", "account"),
        ("Refund for last month please.", "billing"),
        ("Login page shows error 500.", "bug"),
    ]
    shots = rng.sample(pool, k)
    body = "\n".join(f"Ticket: {t} -> {c}" for t, c in shots)
    return f"Assign each support ticket to one category: billing, bug, how-to, account.\n{body}\nTicket: {rng.choice(TICKETS)} ->"


TEMPLATES: list[Template] = [
    # Brainstorming
    Template(
        "brain-names", "Brainstorming", "Give me {n} name ideas for {topic}.", "high", 0, 0, 0.0, 1
    ),
    Template(
        "brain-marketing",
        "Brainstorming",
        "Brainstorm marketing ideas to get more customers for {topic}.",
        "high",
        0,
        0,
        0.33,
        0,
    ),
    Template(
        "brain-gifts",
        "Brainstorming",
        "What are some creative birthday gift ideas for a friend who loves {topic_hobby}?".replace(
            "{topic_hobby}", "cooking"
        ),
        "high",
        0,
        0,
        0.0,
        0,
    ),
    Template(
        "brain-features",
        "Brainstorming",
        "List {n} feature ideas we could add to {topic}'s website to increase engagement.",
        "high",
        0,
        0,
        0.33,
        1,
    ),
    Template(
        "brain-weekend",
        "Brainstorming",
        "I'm spending a weekend in {city}. Brainstorm some unusual things to do that tourists usually miss.",
        "medium",
        0,
        0,
        0.33,
        0,
    ),
    Template(
        "brain-research",
        "Brainstorming",
        "Suggest {n} possible research questions for a thesis about {subject}.",
        "medium",
        0,
        0,
        0.67,
        1,
    ),
    # Chatbot
    Template("chat-small", "Chatbot", "{chat}", "none", 0, 0, 0.0, 0),
    Template(
        "chat-support", "Chatbot", "Hi, {ticket_lower} Can you help me?", "none", 0, 0, 0.33, 0
    ),
    Template(
        "chat-persona",
        "Chatbot",
        "You are a friendly assistant for {topic}. A customer says: 'hello, are you open today?' Reply to them.",
        "medium",
        0,
        0,
        0.0,
        0,
    ),
    Template(
        "chat-advice",
        "Chatbot",
        "hey, I'm feeling nervous about my job interview tomorrow at {topic}. any words of encouragement?",
        "medium",
        0,
        0,
        0.0,
        0,
    ),
    # Classification
    Template(
        "cls-ticket",
        "Classification",
        'Classify this support ticket as billing, technical, account or other: "{ticket}"',
        "none",
        0,
        1,
        0.33,
        1,
    ),
    Template(
        "cls-sentiment",
        "Classification",
        "Is the sentiment of this review positive, negative or mixed? Answer with one word.\n\n{review}",
        "none",
        0,
        1,
        0.0,
        1,
    ),
    Template(
        "cls-spam",
        "Classification",
        "Decide whether the following email is spam or not spam.\n\n{email_or_spam}",
        "none",
        0,
        1,
        0.0,
        1,
    ),
    Template(
        "cls-topic",
        "Classification",
        "Which of these categories best fits the text: health, finance, technology, science, history?\n\nText: {passage}",
        "none",
        0,
        1,
        0.33,
        1,
    ),
    Template(
        "cls-animal",
        "Classification",
        "Sort these into mammals, birds and reptiles: eagle, dolphin, gecko, bat, penguin, crocodile, {animal}.",
        "none",
        0,
        0,
        0.33,
        1,
    ),
    # Closed QA
    Template(
        "cqa-passage",
        "Closed QA",
        "Read the passage and answer the question.\n\nPassage: {passage}\n\nQuestion: {cqa_question}",
        "none",
        0,
        1,
        0.33,
        0,
    ),
    Template(
        "cqa-lease",
        "Closed QA",
        'Based only on this clause, {lease_q}\n\n"{lease}"',
        "none",
        1,
        1,
        0.67,
        1,
    ),
    Template(
        "cqa-meeting",
        "Closed QA",
        "{meeting}\n\nAccording to the notes above, {meeting_q}",
        "none",
        0,
        1,
        0.0,
        0,
    ),
    Template(
        "cqa-mc",
        "Closed QA",
        "{mc_question}\nA) {mc_a}\nB) {mc_b}\nC) {mc_c}\nD) {mc_d}\nAnswer with the letter only.",
        "none",
        1,
        0,
        0.67,
        1,
    ),
    Template(
        "cqa-abstract",
        "Closed QA",
        "Given this abstract, did caffeine restore accuracy? Explain briefly.\n\n{abstract}",
        "none",
        1,
        1,
        0.67,
        0,
    ),
    # Code Generation
    Template(
        "code-func",
        "Code Generation",
        "Write a {lang} function that {code_task}.",
        "none",
        1,
        0,
        1.0,
        0,
    ),
    Template(
        "code-tests",
        "Code Generation",
        "Implement a function in {lang} that {code_task}. Include unit tests and handle edge cases.",
        "none",
        1,
        0,
        1.0,
        1,
    ),
    Template(
        "code-script",
        "Code Generation",
        "Write a Python script that uses a for loop to {loop_task}.",
        "none",
        0,
        0,
        1.0,
        0,
    ),
    Template(
        "code-fix",
        "Code Generation",
        "This code throws an error, fix it:\n\n```python\ndef average(xs):\n    return sum(xs) / len(xs\n```",
        "none",
        1,
        1,
        1.0,
        0,
    ),
    Template(
        "code-sql",
        "Code Generation",
        "Write a SQL query that returns the top {n} customers by total order value from tables customers(id, name) and orders(id, customer_id, amount).",
        "none",
        1,
        1,
        1.0,
        1,
    ),
    Template(
        "code-api",
        "Code Generation",
        "Create a minimal REST API in {lang} with one endpoint that {code_task} and returns JSON.",
        "none",
        1,
        0,
        1.0,
        1,
    ),
    # Extraction
    Template(
        "ext-contact",
        "Extraction",
        "Extract the name, organisation and any contact details from this text as JSON:\n\n{person}",
        "none",
        0,
        1,
        0.0,
        1,
    ),
    Template(
        "ext-dates",
        "Extraction",
        "Pull out every date, deadline and time mentioned in this text:\n\n{passage}",
        "none",
        0,
        1,
        0.0,
        0,
    ),
    Template(
        "ext-job",
        "Extraction",
        "From the job ad below, extract the location, salary range and required skills.\n\n{job}",
        "none",
        0,
        1,
        0.33,
        1,
    ),
    Template(
        "ext-numbers",
        "Extraction",
        "List all the numbers and what they refer to in the following text.\n\n{passage}",
        "none",
        0,
        1,
        0.0,
        0,
    ),
    Template(
        "ext-ingredients",
        "Extraction",
        "Which ingredients and quantities does this recipe use? Return a bullet list.\n\n{recipe}",
        "none",
        0,
        1,
        0.0,
        1,
    ),
    # Open QA
    Template("oqa-fact", "Open QA", "{open_q}", "none", 0, 0, 0.33, 0),
    Template(
        "oqa-explain",
        "Open QA",
        "Can you explain {subject} in simple terms?",
        "none",
        0,
        0,
        0.33,
        0,
    ),
    Template("oqa-expert", "Open QA", "Explain {expert}.", "none", 1, 0, 1.0, 0),
    Template(
        "oqa-compare",
        "Open QA",
        "What are the main differences between {subject} and {subject2}?",
        "none",
        1,
        0,
        0.67,
        0,
    ),
    Template(
        "oqa-howto",
        "Open QA",
        "How do I get from the airport to the city centre in {city}?",
        "none",
        0,
        0,
        0.33,
        0,
    ),
    Template(
        "oqa-word",
        "Open QA",
        "A train leaves at {hh}:15 and the trip takes {mins} minutes. What time does it arrive? Show your reasoning.",
        "none",
        1,
        0,
        0.0,
        0,
    ),
    # Other
    Template("other-misc", "Other", "{other}", "none", 0, 0, 0.0, 0),
    # Rewrite
    Template(
        "rw-tone",
        "Rewrite",
        "Rewrite this message to be {tone}:\n\n{email}",
        "medium",
        0,
        1,
        0.0,
        1,
    ),
    Template(
        "rw-grammar",
        "Rewrite",
        'Fix the grammar and spelling: "{bad_grammar}"',
        "none",
        0,
        1,
        0.0,
        0,
    ),
    Template(
        "rw-paraphrase",
        "Rewrite",
        "Paraphrase the following paragraph without changing its meaning.\n\n{passage}",
        "medium",
        0,
        1,
        0.0,
        1,
    ),
    Template(
        "rw-simplify",
        "Rewrite",
        "Rewrite this for a general audience, avoiding jargon:\n\n{abstract}",
        "medium",
        0,
        1,
        0.33,
        1,
    ),
    Template(
        "rw-bullets",
        "Rewrite",
        "Turn this paragraph into a list of short bullet points:\n\n{passage}",
        "none",
        0,
        1,
        0.0,
        1,
    ),
    # Summarization
    Template(
        "sum-tldr",
        "Summarization",
        "Summarize the following in one sentence:\n\n{passage}",
        "none",
        0,
        1,
        0.33,
        1,
    ),
    Template(
        "sum-words",
        "Summarization",
        "{passage}\n\nExplain the above in at most {words_short} words.",
        "none",
        0,
        1,
        0.33,
        1,
    ),
    Template(
        "sum-incident",
        "Summarization",
        "Give me a short summary of this incident report for the leadership team:\n\n{incident}",
        "none",
        0,
        1,
        0.67,
        0,
    ),
    Template(
        "sum-chat",
        "Summarization",
        "Summarize this conversation:\n\n{support_chat}",
        "none",
        0,
        1,
        0.0,
        0,
    ),
    Template(
        "sum-keypoints",
        "Summarization",
        "What are the key points of this text?\n\n{passage}",
        "none",
        0,
        1,
        0.33,
        0,
    ),
    # Text Generation
    Template(
        "gen-story",
        "Text Generation",
        "Write a short story about {story_seed}.",
        "high",
        0,
        0,
        0.0,
        0,
    ),
    Template(
        "gen-poem", "Text Generation", "Write a {poem_form} about {subject}.", "high", 0, 0, 0.0, 1
    ),
    Template(
        "gen-email",
        "Text Generation",
        "Write an email to my landlord asking to {landlord_ask}. Keep it under {words} words.",
        "medium",
        0,
        0,
        0.0,
        1,
    ),
    Template(
        "gen-essay",
        "Text Generation",
        "Write a {words}-word essay on the impact of {subject} on society.",
        "medium",
        1,
        0,
        0.33,
        1,
    ),
    Template(
        "gen-product",
        "Text Generation",
        "Write a product description for {product} for an online shop.",
        "medium",
        0,
        0,
        0.0,
        0,
    ),
    Template(
        "gen-mystery",
        "Text Generation",
        "Write a mystery set in {place} where {mystery_seed}. Follow the investigation and reveal the surprising truth.",
        "high",
        0,
        0,
        0.0,
        1,
    ),
    # Unknown
    Template("unk", "Unknown", "{unknown}", "none", 0, 0, 0.0, 0),
    # prompts that lean on context the prompt does not carry
    Template("chat-followup", "Chatbot", "{followup}", "none", 0, 1, 0.0, 0),
    Template("cqa-missing", "Closed QA", "{missing_doc}", "none", 0, 1, 0.33, 0),
]
CONTEXT_OUTSIDE_GROUPS = {"chat-support", "chat-followup", "cqa-missing"}
CONTEXT_DEPENDENT_UNKNOWN = {
    "the thing from before",
    "same as last time but different",
    "fix it",
    "again",
    "and?",
    "yes please",
}

FEW_SHOT = [
    ("fs-sentiment", "Classification", few_shot_sentiment, 0, 0.0),
    ("fs-phone", "Extraction", few_shot_extraction, 0, 0.0),
    ("fs-formal", "Rewrite", few_shot_rewrite, 0, 0.0),
    ("fs-qa", "Open QA", few_shot_qa, 0, 0.33),
    ("fs-ticket", "Classification", few_shot_classify_ticket, 0, 0.33),
]

EXTRA = {
    "chat": CHAT,
    "unknown": UNKNOWN,
    "followup": [
        "Can you make the second one shorter?",
        "What did you mean by that last part?",
        "ok now do the same for the other file",
        "Use the same format as the report I sent you yesterday.",
        "why did you change my numbers?",
        "go back to the version before and keep only the intro",
        "that's not what I asked, try again with my original list",
        "Continue from where you stopped.",
    ],
    "missing_doc": [
        "According to the attached contract, when can I terminate the lease?",
        "In the spreadsheet I uploaded, which region had the highest sales?",
        "What does my doctor's letter say about the dosage?",
        "Based on our company's travel policy, can I book business class?",
        "Looking at my last three invoices, why did the total go up?",
        "What was decided in yesterday's board meeting?",
    ],
    "ticket_lower": [t[0].lower() + t[1:] for t in TICKETS],
    "review": [
        PASSAGES["review"],
        "Terrible app. It deleted my notes twice and support never answered.",
        "Lovely little cafe, but the music was far too loud to talk.",
    ],
    "email_or_spam": [
        PASSAGES["email"],
        "CONGRATULATIONS! You have won a $1,000 gift card. Click here within 24 hours to claim your prize!!!",
        "Your account has been suspended. Verify your password at http://secure-login.example to avoid closure.",
    ],
    "email": [
        PASSAGES["email"],
        "hey can u send me the report by tmrw, boss is asking",
        "We regret to inform you that your application was not successful this time.",
    ],
    "animal": ["iguana", "sparrow", "whale", "turtle"],
    "cqa_question": [
        "What is the main point of the passage?",
        "What numbers are mentioned and what do they describe?",
        "Who or what is the passage about?",
    ],
    "lease_q": [
        "can the tenant end the lease in June 2025?",
        "how much is the deposit?",
        "may the tenant keep a cat?",
    ],
    "lease": [PASSAGES["lease"]],
    "meeting": [PASSAGES["meeting"]],
    "abstract": [PASSAGES["abstract"]],
    "job": [PASSAGES["job"]],
    "recipe": [PASSAGES["recipe"]],
    "incident": [PASSAGES["incident"]],
    "support_chat": [PASSAGES["support_chat"]],
    "meeting_q": [
        "who is responsible for the billing export?",
        "when is the next sync?",
        "how much was the campaign budget cut?",
    ],
    "mc_question": [
        "Which gas do plants absorb during photosynthesis?",
        "Which layer of the Earth is liquid?",
        "What is the main function of red blood cells?",
    ],
    "mc_a": ["Oxygen", "Crust"],
    "mc_b": ["Carbon dioxide", "Outer core"],
    "mc_c": ["Nitrogen", "Mantle"],
    "mc_d": ["Helium", "Inner core"],
    "loop_task": [
        "print the numbers from 1 to 10",
        "sum the values in a list",
        "print each line of a file",
        "count the vowels in a word",
    ],
    "open_q": OPEN_Q,
    "subject2": SUBJECTS,
    "hh": ["07", "09", "13", "18"],
    "mins": ["50", "95", "135", "170"],
    "bad_grammar": [
        "their going to the park tomorow if it dont rain",
        "me and him was late becuase the bus brake down",
        "i has three cat and they loves fish",
        "the informations you sended is wrong",
    ],
    "words_short": ["20", "30", "one sentence of"],
    "story_seed": [
        "a lighthouse keeper who finds a message in a bottle",
        "a robot learning to paint",
        "two rival chefs stuck in an elevator",
        "a girl who can hear plants",
        "the last bookstore on Mars",
    ],
    "poem_form": ["haiku", "sonnet", "limerick", "free-verse poem", "rhyming poem for children"],
    "landlord_ask": [
        "fix the broken heating",
        "allow me to keep a cat",
        "extend my lease by six months",
        "return my deposit",
    ],
    "product": [
        "a handmade ceramic mug",
        "noise-cancelling headphones",
        "an organic cotton t-shirt",
        "a smart plant pot",
    ],
    "place": [
        "a small mountain village",
        "a seaside town in winter",
        "a busy university campus",
        "a remote research station",
    ],
    "mystery_seed": [
        "the church bell disappears overnight",
        "every clock in town stops at 3:17",
        "the mayor's dog goes missing",
        "a library book returns itself after 40 years",
    ],
}


def render(rng: random.Random, t: Template) -> str:
    text = t.text
    if t.group == "other-misc":
        other, _, _, _ = rng.choice(OTHER)
        return fill(rng, other)
    for key, values in EXTRA.items():
        token = "{" + key + "}"
        if token in text:
            text = text.replace(token, str(rng.choice(values)))
    return fill(rng, text)


def other_labels(text: str) -> tuple[int, float, int]:
    for tmpl, reasoning, domain, constrained in OTHER:
        head = tmpl.split("{")[0]
        if head and text.startswith(head):
            return reasoning, domain, constrained
    return 0, 0.0, 0


def main() -> None:
    rng = random.Random(SEED)
    rows: list[dict[str, object]] = []
    by_task: dict[str, int] = {}
    for t in TEMPLATES:
        n_done = by_task.get(t.task, 0)
        by_task[t.task] = n_done + 1
        split = "test" if n_done % 4 == 1 else "train"
        single_group = sum(1 for o in TEMPLATES if o.task == t.task) == 1
        count = PER_TEMPLATE * (
            3 if t.group in {"chat-small", "unk", "other-misc", "oqa-fact"} else 1
        )
        seen: set[str] = set()
        for _ in range(count * 4):
            if len(seen) >= count:
                break
            text = render(rng, t)
            if text in seen:
                continue
            seen.add(text)
            reasoning, domain, constrained = t.reasoning, t.domain, t.constrained
            contextual = int(
                t.group in CONTEXT_OUTSIDE_GROUPS
                or (t.group == "unk" and text in CONTEXT_DEPENDENT_UNKNOWN)
            )
            if t.group == "other-misc":
                reasoning, domain, constrained = other_labels(text)
            rows.append(
                dict(
                    prompt=text,
                    task_type=t.task,
                    creativity=t.creativity,
                    reasoning=reasoning,
                    contextual=contextual,
                    few_shots=0,
                    domain=domain,
                    constrained=constrained,
                    # a task type written as one template holds out every 4th prompt
                    group=f"{t.group}-{len(seen) % 4}" if single_group else t.group,
                    split=("test" if len(seen) % 4 == 0 else "train") if single_group else split,
                )
            )
    for i, (group, task, make, reasoning, domain) in enumerate(FEW_SHOT):
        split = "test" if i == 2 else "train"
        for k in (1, 2, 3, 4, 5) * 2:
            rows.append(
                dict(
                    prompt=make(rng, min(k, 5)),
                    task_type=task,
                    creativity="none",
                    reasoning=reasoning,
                    contextual=0,
                    few_shots=k,
                    domain=domain,
                    constrained=1,
                    group=group,
                    split=split,
                )
            )
    uniq = {str(r["prompt"]): r for r in rows}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w") as fh:
        for r in uniq.values():
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    counts: dict[str, int] = {}
    for r in uniq.values():
        counts[str(r["task_type"])] = counts.get(str(r["task_type"]), 0) + 1
    print(f"wrote {len(uniq)} prompts to {OUT}: {dict(sorted(counts.items()))}")


if __name__ == "__main__":
    main()
