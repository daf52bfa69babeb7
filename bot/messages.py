"""Everything a user reads, in French: one flat module of constants."""

from __future__ import annotations

# --- Telegram face -------------------------------------------------------------------------

WELCOME = (
    "Bonjour ! Je suis Pilote IA, un assistant fondé sur l'intelligence artificielle "
    "(vous parlez à une IA, pas à un humain).\n"
    "Je conseille les TPE/PME : quels outils d'IA essayer, à quel prix, et un pilote de "
    "deux semaines pour les tester.\n\n"
    "Quatre questions rapides pour mieux vous répondre."
)
PROFILE_SECTOR = "1/4 · Votre secteur ?"
PROFILE_SIZE = "2/4 · Combien êtes-vous dans l'entreprise ?"
PROFILE_BUDGET = "3/4 · Budget mensuel pour des outils d'IA ?"
PROFILE_PRIORITY = "4/4 · Votre priorité ?"
PROFILE_DONE = (
    "C'est noté. Posez-moi votre question, par exemple : « je croule sous les demandes "
    "de devis, que faire ? »"
)
PROFILE_EXPIRED = "Ce choix n'est plus valable : tapez /profil pour recommencer."
HELP = (
    "Écrivez votre question en une ou deux phrases : je propose 2 à 4 outils avec leur "
    "prix par mois, un pilote de deux semaines et mes sources.\n\n"
    "/profil · voir ou modifier votre profil\n"
    "/pilote · la liste de contrôle du pilote\n"
    "/outils besoin · outils pour un besoin (ex. /outils devis)\n"
    "/reset · oublier la conversation (le profil reste)\n"
    "/mesdonnees · recevoir une copie de vos données\n"
    "/oubli · effacer toutes vos données\n"
    "/aide · cette aide\n\n"
    "Je suis une IA : vérifiez les prix et les conditions avant de vous engager."
)
THINKING = "⏳ Je cherche dans ma base de connaissances…"
UNSUPPORTED_CONTENT = (
    "Je ne lis que les messages écrits. Décrivez votre situation en quelques phrases "
    "et je vous propose des outils d'IA, leur prix et un pilote de deux semaines."
)
UNSUPPORTED_WITH_VOICE = (
    "Je lis les messages écrits et les notes vocales, pas les photos ni les fichiers. "
    "Décrivez votre situation et je vous propose des outils d'IA, leur prix et un pilote."
)
# voice notes (bot/telegram/voice.py): every refusal says the question can be typed instead
VOICE_UNDERSTOOD = "J'ai compris : « {text} »\nSi ce n'est pas ça, réécrivez votre question."
VOICE_TOO_LONG = (
    "Votre message vocal dure {seconds} s : j'écoute jusqu'à {limit} s. Renvoyez-en un plus "
    "court, ou écrivez votre question."
)
VOICE_TOO_BIG = (
    "Ce fichier audio est trop lourd ({size} Mo, {limit} Mo au plus). Renvoyez-en un plus "
    "court, ou écrivez votre question."
)
VOICE_BAD_FORMAT = (
    "Je ne sais pas lire ce format audio. Envoyez une note vocale Telegram, ou écrivez votre "
    "question."
)
VOICE_UNAVAILABLE = (
    "La transcription des messages vocaux ne répond pas en ce moment. Écrivez votre "
    "question, j'y réponds tout de suite."
)
VOICE_SLOW = (
    "La transcription prend trop de temps, j'abandonne. Écrivez votre question, ou "
    "réessayez dans quelques minutes."
)
VOICE_EMPTY = (
    "Je n'ai pas entendu de question dans ce message (silence ou bruit ?). Parlez près du "
    "micro, ou écrivez votre question."
)
VOICE_DOWNLOAD_FAILED = (
    "Je n'ai pas pu récupérer votre message vocal. Renvoyez-le, ou écrivez votre question."
)
VOICE_BUDGET_SPENT = (
    "Budget IA du jour atteint : je n'écoute plus de messages vocaux aujourd'hui. Écrivez "
    "votre question, je vous réponds avec ma base de connaissances."
)
EMPTY_QUESTION = "Votre message est vide : écrivez votre question en quelques mots."
TOO_LONG = (
    "Votre message est trop long ({length} caractères). Résumez votre question en "
    "moins de {limit} caractères, s'il vous plaît."
)
BUSY = "Je réponds encore à votre question précédente, un instant…"
# questions interrupted by a restart of the bot
RESUMING = "Suite à un redémarrage, je reprends votre question « {question} »."
RESUMED = "Suite à un redémarrage, voici la réponse à votre question « {question} » :"
RESUME_TOO_OLD = (
    "Désolé, un redémarrage m'a interrompu et votre question « {question} » est restée "
    "sans réponse. Posez-la à nouveau si elle vous intéresse toujours."
)
RATE_LIMITED = "Vous avez posé beaucoup de questions cette heure-ci. Réessayez dans un moment."
BUDGET_OFFLINE_NOTE = "Budget IA du jour atteint : réponse tirée de la base de connaissances seule."
BUDGET_SPENT = "Le budget IA du jour est atteint. Revenez demain, merci de votre patience."
NOT_ALLOWED = "Ce bot est réservé à certains utilisateurs. Contactez la personne qui l'a installé."
ADMIN_ONLY = "Cette commande est réservée aux administrateurs."
GENERIC_ERROR = "Désolé, un problème m'empêche de répondre. Réessayez dans un instant."
DEGRADED_NOTE = (
    "Réponse dégradée : l'IA générative est indisponible, voici ce que dit ma base "
    "de connaissances."
)
GUARD_BLOCKED = (
    "Réponse dégradée : la réponse de l'IA a été écartée par sécurité. Voici ce que dit ma "
    "base de connaissances."
)
FREE = "gratuit"
TOOLS_TITLE = "Outils proposés"
PILOT_TITLE = "Pilote de deux semaines"
PILOT_GOAL = "Objectif :"
PILOT_KPIS = "Indicateurs :"
PILOT_BUDGET = "Budget :"
PILOT_MORE = "… {n} autres étapes : /pilote"
PILOT_BUDGET_DETAIL = "Budget du pilote (deux semaines) :"
SOURCES_TITLE = "Sources"
COST_TITLE = "Détail des coûts"
PRICE_AS_OF = "tarif au {date}"
COST_TOTAL = "Total par mois :"
COST_TOTAL_UNKNOWN = " (hors outils au prix non publié)"
PRICE_NOT_PUBLISHED = "prix non publié, à demander à l'éditeur"
TOOLS_FOR = "Outils pour « {need} »"
NO_TOOLS = "Je n'ai pas d'outil au catalogue pour « {need} ». Essayez un autre mot."
TOOLS_USAGE = "Précisez un besoin, par exemple : /outils devis"
BUTTON_CHECKLIST = "📋 Checklist"
BUTTON_COST = "💶 Coûts"
BUTTON_OTHER = "🔄 Autre option"
ANOTHER_OPTION_QUESTION = (
    "{question}\n\nPropose une autre option, si possible moins chère, sans reprendre : {tools}."
)
NO_ADVICE_YET = "Posez d'abord une question : le pilote vient avec la réponse."
CHECKLIST_TITLE = "Pilote de deux semaines · {progress} fait"
CHECKLIST_HINT = "Touchez une étape pour la cocher."
BUTTON_EXPORT_MD = "📄 Markdown"
BUTTON_EXPORT_ICS = "📅 Calendrier"
BUTTON_REMINDERS_ON = "🔔 Rappels 9 h"
BUTTON_REMINDERS_OFF = "🔕 Arrêter les rappels"
REMINDERS_ON = "Rappel activé : chaque jour à 9 h (heure de Paris)."
REMINDERS_OFF = "Rappels désactivés."
REMINDER_TEXT = "Pilote, jour {day} : {task}\nAvancement : {progress}. /pilote"
REMINDER_ALL_DONE = "tout est coché, bravo !"
REMINDER_DONE = "Votre pilote est terminé ({progress}) : l'heure du bilan, on continue ou pas ?"
EXPORT_CAPTION_MD = "Votre liste de contrôle."
EXPORT_CAPTION_ICS = "Les 14 jours du pilote, à importer dans votre agenda."
RESET_DONE = "Conversation oubliée. Votre profil est conservé."
FORGET_CONFIRM = (
    "Effacer toutes vos données (profil, conversations, avis, pilote, rappels) ? C'est définitif."
)
BUTTON_FORGET_YES = "Oui, tout effacer"
BUTTON_CANCEL = "Annuler"
FORGET_DONE = "C'est fait : je n'ai plus rien sur vous. /start pour recommencer."
CANCELLED = "Annulé."
# votes under an answer (bot/telegram/feedback.py)
BUTTON_VOTE_UP = "👍 Utile"
BUTTON_VOTE_DOWN = "👎 Pas utile"
BUTTON_VOTED = "✓ {label}"
VOTE_THANKS = "Merci pour votre avis !"
VOTE_NOT_YOURS = "Seule la personne qui a posé la question peut noter cette réponse."
VOTE_UNKNOWN = "Cette réponse n'est plus enregistrée : votre avis ne peut pas être pris en compte."
VOTE_REASON_ASK = "Qu'est-ce qui n'allait pas ? Un appui suffit."
VOTE_REASONS = {
    "unclear": "Pas clair",
    "wrong_tool": "Outil inadapté",
    "too_expensive": "Trop cher",
    "wrong_fact": "Information fausse",
    "other": "Autre",
}
VOTE_REASON_STALE = "Votre avis a changé entre-temps : ce choix n'est plus valable."
VOTE_REASON_NOTED = "Merci, noté : « {reason} ». Cela m'aide à mieux conseiller."
VOTE_COMMENT_ASK = (
    "Merci. Pour préciser, répondez à ce message en une ligne (facultatif). "
    "Un message écrit normalement reste une question."
)
VOTE_COMMENT_PLACEHOLDER = "Ce qui n'allait pas…"
VOTE_COMMENT_THANKS = "Merci, votre commentaire est enregistré."
# /profil and /mesdonnees (bot/telegram/owner_data.py)
PROFILE_CARD = (
    "Votre profil\nSecteur : {sector}\nTaille : {size}\nBudget : {budget}\nPriorité : {priority}"
)
PROFILE_UNSET = "non renseigné"
PROFILE_SECTOR_OTHER = "Autre"  # the last sector button: every trade
PROFILE_BUDGET_EUR = "{amount} € par mois"
BUTTON_PROFILE_EDIT = "✏️ Modifier"
MY_DATA_FILE = "mes-donnees-pilote-ia.json"
MY_DATA_CAPTION = (
    "Tout ce que je garde sur vous (profil, questions et réponses, avis, pilote, "
    "consommation), au format JSON. /oubli pour tout effacer."
)
MY_DATA_PRIVATE_ONLY = (
    "Vos données sont personnelles : demandez-les-moi en message privé, avec /mesdonnees."
)
USAGE_REPORT = (
    "Utilisateurs : {users}\n"
    "Questions : {q_today} aujourd'hui, {q_total} au total\n"
    "Coût IA : {c_today} € aujourd'hui, {c_total} € au total"
)
COMMANDS = (
    ("start", "Démarrer et créer le profil"),
    ("profil", "Voir ou modifier mon profil"),
    ("pilote", "Ma liste de contrôle du pilote"),
    ("outils", "Outils pour un besoin"),
    ("aide", "Ce que je sais faire"),
    ("reset", "Oublier la conversation"),
    ("mesdonnees", "Recevoir une copie de mes données"),
    ("oubli", "Effacer toutes mes données"),
)
WEBHOOK_SECRET_MISSING = (
    "obligatoire avec --webhook : une chaîne secrète (1 à 256 caractères A-Z, a-z, 0-9, _ et -)"
)
WEBHOOK_URL_INVALID = "l'URL du webhook doit commencer par https://"
NO_TOKEN = (
    "manquant : ajoutez le jeton de votre bot (donné par @BotFather) dans .env "
    "ou dans l'environnement."
)

# --- Advisor, LLM and knowledge-base failures (bot/advisor.py, CLI) ------------------------

PROVIDER_NAMES = {
    "deepseek": "DeepSeek",
    "qwen": "Qwen (Alibaba Cloud)",
    "glm": "GLM (Z.ai)",
    "mistral": "Mistral AI",
    "openrouter": "OpenRouter",
    "ollama": "Ollama",
    "llamacpp": "llama.cpp",
    "openai": "OpenAI",
    "custom": "Le fournisseur d'IA configuré",
}
LLM_AUTH = (
    "{provider} a refusé la clé API : la personne qui gère le bot doit vérifier LLM_API_KEY. "
    "En attendant, je réponds avec ma base de connaissances seule."
)
LLM_RATE_LIMITED = (
    "{provider} reçoit trop de demandes en ce moment. Je réponds avec ma base de "
    "connaissances seule ; réessayez dans quelques minutes pour une réponse complète."
)
LLM_UNAVAILABLE = (
    "{provider} ne répond pas en ce moment. Je réponds avec ma base de connaissances seule."
)
LLM_BAD_RESPONSE = (
    "{provider} a renvoyé une réponse inutilisable. Je réponds avec ma base de connaissances seule."
)
INDEX_NOT_READY = (
    "La base de connaissances n'est pas encore prête. Lancez « pilote-ia ingest » puis réessayez."
)
INDEX_MODEL_MISMATCH = (
    "L'index a été construit avec un autre modèle d'embeddings : relancez "
    "« pilote-ia ingest --rebuild »."
)
INDEX_UNREADABLE = "Un document de la base de connaissances est illisible : {path}."
STORE_UNAVAILABLE = (
    "La base de connaissances est injoignable (serveur Chroma). Réessayez plus tard."
)
EMBEDDING_FAILED = "Le modèle de recherche n'a pas pu être chargé. Voir « pilote-ia doctor »."
INVALID_QUESTION = (
    "Je n'ai pas compris la question. Décrivez en une phrase ce qui vous prend du temps, "
    "par exemple : « je croule sous les messages WhatsApp »."
)
CONFIG_INVALID = "La configuration est incomplète : lancez « pilote-ia doctor » pour le détail."
STORAGE_FAILED = "Impossible d'enregistrer vos données pour le moment. Réessayez dans un instant."

# --- pilote-ia kb check (bot/cli/kb_check.py) ---------------------------------------------

KB_CHECK_SEVERITY_LABELS = {"error": "erreur", "warning": "attention"}
KB_CHECK_LINE = "[{label}] {file} · {field} : {message} → {fix}"
KB_CHECK_ALL_GOOD = "Base valide : {fiches} fiches vérifiées dans {directory}, aucun problème."
KB_CHECK_SUMMARY = (
    "{fiches} fiches vérifiées dans {directory} : {errors} erreur(s), {warnings} alerte(s)."
)
KB_CHECK_FIX_THEN_RERUN = "Corrigez les erreurs puis relancez « pilote-ia kb check »."
KB_CHECK_BAD_AGE = "« {value} » : un nombre entier de jours, au moins 1, est attendu."

# --- pilote-ia admin (bot/cli/admin.py, bot/admin/) ----------------------------------------

ADMIN_TOKEN_REQUIRED = (
    "obligatoire pour écouter sur {host} : sans lui, le tableau de bord serait ouvert au "
    "réseau. Mettez un jeton d'au moins 12 caractères (ex. openssl rand -hex 16)."
)
ADMIN_ONE_TIME_TOKEN = "Jeton d'accès pour cette session : {token} (ADMIN_TOKEN pour un jeton fixe)"
ADMIN_LISTENING = "Tableau de bord : {url} (Ctrl+C pour arrêter)"
ADMIN_PLAIN_HTTP = (
    "Attention : le jeton circule en clair sur le réseau ; placez un proxy HTTPS devant {url}."
)
ADMIN_CANNOT_LISTEN = (
    "Impossible d'écouter sur {host}:{port} : adresse inconnue de cette machine ou port "
    "déjà pris (essayez un autre --port)."
)
ADMIN_BAD_PORT = "« {value} » : un numéro de port entre 1 et 65535 est attendu"
ADMIN_MODES = {"llm": "IA générative", "offline": "hors ligne", "degraded": "dégradé"}
ADMIN_NO_REASON = "Sans raison"  # a 👎 whose reason was not given (reasons: VOTE_REASONS)
ADMIN_FICHE_TYPES = {
    "case": "études de cas",
    "tool": "outils",
    "guide": "guides",
    "fact": "faits et règles",
    "doc": "vos documents",
}
ADMIN_GAP_REASONS = {
    "weak_retrieval": "recherche faible",
    "out_of_scope": "hors sujet",
    "neighbour_need": "besoin voisin",
    "thumbs_down": "👎",
}

# --- The offline answer (bot/answer_text.py) ----------------------------------------------

DECLINE_OFF_TOPIC = (
    "Désolé, je ne peux pas vous aider sur ce sujet : je conseille les petites entreprises "
    "sur l'usage de l'IA (quels outils, à quel prix, comment les tester). Essayez par "
    "exemple : « je perds mes soirées sur les devis »."
)
DECLINE_SUBVERSION = (
    "Je ne peux pas faire ça : mes consignes et les données des autres utilisateurs restent "
    "privées. Je peux en revanche vous conseiller sur l'IA pour votre entreprise : outils, "
    "prix, pilote de deux semaines."
)
DECLINE_DISHONEST = (
    "Je ne peux pas vous aider à tromper ou à nuire (faux avis, fraude, hameçonnage, données "
    "d'autrui). Je peux en revanche vous aider à utiliser l'IA honnêtement : répondre aux "
    "vrais avis, mieux présenter vos offres, gagner du temps sur l'administratif."
)
# a greeting, thanks, or a question about the bot: no decline, a short friendly word
SMALLTALK = {
    "greeting": (
        "Bonjour ! Dites-moi en une ou deux phrases la tâche qui vous prend le plus de temps "
        "(messages clients, devis, factures, réseaux sociaux…) : je vous propose des outils "
        "d'IA, leur prix et un pilote de deux semaines."
    ),
    "thanks": "Avec plaisir ! Une autre question sur l'IA pour votre entreprise ? Je suis là.",
    "about_bot": (
        "Je suis pilote-ia, un assistant automatique (une IA, pas une personne) qui conseille "
        "les petites entreprises sur l'IA. Je réponds à partir de fiches vérifiées et datées "
        "(outils, prix, règles), avec leurs sources. Dites-moi ce qui vous prend du temps."
    ),
    "send_copy": (
        "Je ne peux rien envoyer par e-mail ou SMS : tout reste ici, dans notre conversation. "
        "Sous une réponse avec un pilote, le bouton « 📋 Checklist » donne le plan à copier."
    ),
    "complaint": (
        "Désolé, ma réponse ne vous a pas aidé. Redites-moi en une phrase la tâche ou la "
        "question (par exemple « répondre plus vite aux avis Google »), je reprends."
    ),
    "english": (
        "Je réponds en français uniquement. Posez-moi votre question en français, par "
        "exemple : « quel outil pour répondre à mes clients ? »"
    ),
}
NEED_OPENING = "Pour {label}, commencez par {first}"
NEED_THEN = ", puis {rest} si besoin"
NEED_CLOSING = ", à tester sur un pilote de deux semaines."
SECOND_NEED = "Et pour {label} : {tools}."
SECOND_NEED_NO_TOOL = "Pour {label}, mon catalogue n'a pas encore d'outil."
SECOND_NEED_SAME_TOOL = "{tool} vous sert aussi pour {label}."
NO_TOOL_FOR_TRADE = (
    "Mon catalogue n'a pas encore d'outil pour {label} adapté à votre métier : la méthode "
    "ci-dessous reste valable, à tester avec un outil que vous connaissez déjà."
)
NO_CARD = (
    "Je n'ai pas de fiche sur {name} : je ne peux pas vous dire ce qu'il fait avec l'IA ni ce "
    "qu'il coûte, voyez avec l'éditeur."
)
NO_CARD_SHORT = "Je n'ai pas de fiche sur {name}, je ne peux donc rien en dire."
NO_CARD_SAME_KIND = "Du même type, mon catalogue connaît : {tools}."
UNKNOWN_TOOL_PRICE = (
    "Je n'ai pas de fiche sur {name} : je ne connais pas son prix, vérifiez-le chez l'éditeur. "
    "Dites-moi plutôt la tâche visée (« répondre à mes mails », « mes devis ») : je vous "
    "propose des outils dont je connais le prix."
)
NOTHING_CHEAPER = "Je n'ai rien de moins cher pour ce besoin : {tools}."
NOTHING_FREE = "Je n'ai pas d'outil gratuit pour ce besoin ; ma proposition reste : {tools}."
FITS_BUDGET = "Avec {budget} € par mois, la proposition tient déjà : {tools}."
START_FREE = " Commencez par l'offre gratuite {tools} et ne payez que si le pilote est concluant."
PLAN_STILL_HOLDS = (
    "Le plan de test de deux semaines ci-dessous reste valable, avec un outil que vous "
    "connaissez déjà."
)
NO_TOOL_FOR_NEED = (
    "Mon catalogue n'a pas encore d'outil pour {label} : je préfère ne rien vous proposer au "
    "hasard. La méthode ci-dessous reste valable, avec un outil que vous connaissez déjà."
)
NO_TOOL_FITS = (
    "Aucun outil du catalogue pour {label} ne rentre dans un budget de {budget} €/mois : "
    "commencez par des offres gratuites ou revoyez le budget."
)
NO_NEED_FOUND = (
    "Dites-moi quelle tâche vous prend le plus de temps (messages clients, devis, factures, "
    "réseaux sociaux…) : je vous proposerai des outils précis et un pilote de deux semaines."
)
CASE_REAL = "Exemple : « {title} » [{n}]."
CASE_ILLUSTRATIVE = "Exemple illustratif (pas une preuve de résultat) : « {title} » [{n}]."
CHEAPER = "Version la moins chère : {tools}"
CHEAPER_TOTAL = ", soit {total} au total"
CHEAPER_BEFORE = ", contre {before} au plus pour la proposition précédente"
PAY_MONTHLY = " Payez au mois, pas à l'année, tant que le pilote n'a pas fait ses preuves."
COST_OF_PROPOSAL = "Coût par mois de la proposition : {tools}, soit {total} au total"
COST_UNPUBLISHED = (
    "Coût par mois de la proposition : {tools}. Aucun de ces prix n'est publié : "
    "demandez un devis aux éditeurs avant de vous engager"
)
ANOTHER = "Autre option : {tools}, à tester de la même façon sur deux semaines."
SAME_PRICE = "Même prix : {price} ; choisissez à l'usage, en les testant sur vos vraies tâches."
CHEAPEST_OF = "Le moins cher : {tool}."
START_WITH = (
    "Pour démarrer avec {tool} : {steps}. Le plan complet des deux semaines est ci-dessous."
)
START_STEP = "jour {day}, {tasks}"
SIMPLER = (
    "Le plus simple : {tool}, seul, sans autre outil à relier. Testez-le deux semaines sur "
    "{label} avant d'ajouter quoi que ce soit."
)
SOURCES_OF_ANSWER = (
    "Mes sources sont numérotées sous chaque réponse ([1], [2]…), avec leur date de lecture. "
    "Un prix ou une règle peut changer : vérifiez-le sur le site de l'éditeur ou de "
    "l'administration avant de vous engager."
)
NO_OTHER = "Je n'ai pas d'autre outil au catalogue pour ce besoin que ceux déjà proposés."
TOOL_PRICE = "{name} : {price}"
TOOL_HOSTING = "{name} : données {where}"
HOSTING_REGIONS = {
    "eu": "traitées dans l'UE",
    "outside-eu": "traitées hors de l'UE",
    "self-hostable": "gardées chez vous si vous l'installez sur vos machines",
    "mixed": "dans ou hors de l'UE selon l'offre choisie",
}
PRICE_DETAIL = " ({tax}, tarif relevé le {date})"
MODEL_PRICES_TITLE = "Prix par million de tokens (entrée / sortie), tarifs au {date} :"
MODEL_PRICE_LINE = "• {model} ({vendor}) : {input} € / {output} €"
MODEL_PRICES_NOTE = "Montants convertis en euros ; les prix des API changent souvent."
DEFAULT_TOOL_WHY = "Outil du catalogue adapté à ce besoin."
COST_NO_TOOL = (
    "Je ne vous ai proposé aucun outil pour cette tâche : je n'ai donc pas de prix à vous "
    "donner. Le plan de test reste valable avec l'outil que vous utilisez déjà."
)
MIXED_FACT_NOT_FOUND = "Sur votre question, je n'ai pas l'information dans ma base. Pour la tâche :"
FACT_NOT_FOUND = (
    "Je n'ai pas cette information dans ma base. Reformulez, ou demandez-moi un outil, un "
    "prix ou une règle (AI Act, RGPD, aides publiques)."
)


def provider_name(provider: str) -> str:
    """Display name of an LLM provider."""
    return PROVIDER_NAMES.get(provider, provider or PROVIDER_NAMES["custom"])


def user_message_for(exc: BaseException) -> str:
    """French wording for a failure; never `str(exc)`, which is for developers."""
    from bot import errors
    from retrieval import errors as rerrors

    if isinstance(exc, errors.LLMError):
        name = provider_name(exc.provider)
        llm_cases: tuple[tuple[type[errors.LLMError], str], ...] = (
            (errors.LLMAuthError, LLM_AUTH),
            (errors.LLMRateLimitError, LLM_RATE_LIMITED),
            (errors.LLMResponseError, LLM_BAD_RESPONSE),
        )
        for llm_kind, text in llm_cases:
            if isinstance(exc, llm_kind):
                return text.format(provider=name)
        return LLM_UNAVAILABLE.format(provider=name)
    if isinstance(exc, rerrors.KnowledgeBaseError):
        return INDEX_UNREADABLE.format(path=exc.path)
    simple: tuple[tuple[type[BaseException], str], ...] = (
        (errors.ConfigError, CONFIG_INVALID),
        (errors.StorageError, STORAGE_FAILED),
        (rerrors.IndexNotReadyError, INDEX_NOT_READY),
        (rerrors.ModelMismatchError, INDEX_MODEL_MISMATCH),
        (rerrors.StoreUnavailableError, STORE_UNAVAILABLE),
        (rerrors.EmbeddingError, EMBEDDING_FAILED),
        (rerrors.InvalidQueryError, INVALID_QUESTION),
    )
    for kind, text in simple:
        if isinstance(exc, kind):
            return text
    return GENERIC_ERROR
