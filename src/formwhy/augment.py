"""Training-time augmentation of simulated traces: other languages' names, and tab switches that mean nothing.

The behavioural simulator (:mod:`formwhy.simulate`) names click targets and generic fields in English
(``forgot_password``, ``city``), while real forms are written in every language (``mot_de_passe_oublie``,
``ciudad``). The renderer already calls typed fields by their type (:func:`formwhy.render.field_labels`), so
``clave`` reads ``password``; click targets and generic fields have no type, so the model has to learn them from
examples. :func:`localize` renames them into one of :data:`LANGUAGES`, from hand-written tables below (a word a
native writer would use, ASCII only because the trace contract allows only ``[A-Za-z0-9_.-[]]`` in names). A name
with no entry stays as it was: real forms mix languages too.

:func:`insert_tab_switch` adds a brief ``hidden`` / ``visible`` pair in the middle of a session, whatever its class.
In the simulator every tab switch belongs to a distraction story or a hard case's misleading signal; real visitors
also look elsewhere for a moment (a password manager, an e-mail with a code) before leaving for another reason.

:func:`augment_examples` applies both to a training set, seeded, and returns for each example the renaming it
made, so that the example's reasoning can name what the rendered trace shows (:func:`formwhy.render.relabel`).
Only training examples are augmented; validation and test sets are read as they are.
"""

from __future__ import annotations

import random
from typing import Any

from formwhy.dataset import Example
from formwhy.trace import Trace

LANGUAGES = ("fr", "de", "es", "pt", "it", "nl", "id", "sv")

# one row per English name: its translation in each of LANGUAGES, in that order
_CLICKS: dict[str, tuple[str, ...]] = {
    "apply_coupon": ("appliquer_code_promo", "gutschein_einloesen", "aplicar_cupon", "aplicar_cupom",
                     "applica_coupon", "kortingscode_toepassen", "pakai_kupon", "anvand_rabattkod"),
    "back": ("retour", "zurueck", "volver", "voltar", "indietro", "terug", "kembali", "tillbaka"),
    "back_to_shop": ("retour_boutique", "zurueck_zum_shop", "volver_a_la_tienda", "voltar_a_loja",
                     "torna_al_negozio", "terug_naar_winkel", "kembali_ke_toko", "tillbaka_till_butiken"),
    "continue_shopping": ("continuer_mes_achats", "weiter_einkaufen", "seguir_comprando", "continuar_comprando",
                          "continua_acquisti", "verder_winkelen", "lanjut_belanja", "fortsatt_handla"),
    "delivery_options": ("options_livraison", "lieferoptionen", "opciones_de_envio", "opcoes_de_entrega",
                         "opzioni_consegna", "bezorgopties", "opsi_pengiriman", "leveransalternativ"),
    "faq": ("questions_frequentes", "haeufige_fragen", "preguntas_frecuentes", "perguntas_frequentes",
            "domande_frequenti", "veelgestelde_vragen", "tanya_jawab", "vanliga_fragor"),
    "forgot_password": ("mot_de_passe_oublie", "passwort_vergessen", "olvide_mi_contrasena", "esqueci_a_senha",
                        "password_dimenticata", "wachtwoord_vergeten", "lupa_kata_sandi", "glomt_losenord"),
    "format_hint": ("aide_format", "formatbeispiel", "ayuda_formato", "dica_formato", "suggerimento_formato",
                    "formaat_uitleg", "petunjuk_format", "formattips"),
    "gallery": ("galerie", "galerie", "galeria", "galeria", "galleria", "galerij", "galeri", "galleri"),
    "guest_checkout": ("commander_sans_compte", "als_gast_bestellen", "comprar_como_invitado",
                       "comprar_como_convidado", "acquista_come_ospite", "bestellen_als_gast",
                       "checkout_sebagai_tamu", "handla_som_gast"),
    "help": ("aide", "hilfe", "ayuda", "ajuda", "aiuto", "hulp", "bantuan", "hjalp"),
    "home": ("accueil", "startseite", "inicio", "pagina_inicial", "home", "startpagina", "beranda", "startsida"),
    "login": ("connexion", "anmelden", "iniciar_sesion", "entrar", "accedi", "inloggen", "masuk", "logga_in"),
    "order_summary": ("recapitulatif_commande", "bestelluebersicht", "resumen_del_pedido", "resumo_do_pedido",
                      "riepilogo_ordine", "besteloverzicht", "ringkasan_pesanan", "ordersammanfattning"),
    "pricing": ("tarifs", "preise", "precios", "precos", "prezzi", "prijzen", "harga", "priser"),
    "privacy_policy": ("politique_de_confidentialite", "datenschutz", "politica_de_privacidad",
                       "politica_de_privacidade", "informativa_privacy", "privacybeleid", "kebijakan_privasi",
                       "integritetspolicy"),
    "product_page": ("fiche_produit", "produktseite", "pagina_del_producto", "pagina_do_produto",
                     "pagina_prodotto", "productpagina", "halaman_produk", "produktsida"),
    "returns_policy": ("conditions_de_retour", "rueckgaberecht", "politica_de_devoluciones",
                       "politica_de_devolucao", "politica_resi", "retourbeleid", "kebijakan_pengembalian",
                       "returpolicy"),
    "security_info": ("paiement_securise", "sicher_bezahlen", "pago_seguro", "compra_segura", "pagamento_sicuro",
                      "veilig_betalen", "info_keamanan", "saker_betalning"),
    "see_examples": ("voir_exemples", "beispiele_ansehen", "ver_ejemplos", "ver_exemplos", "vedi_esempi",
                     "voorbeelden_bekijken", "lihat_contoh", "se_exempel"),
    "shipping_info": ("frais_de_livraison", "versandkosten", "gastos_de_envio", "frete_e_prazo",
                      "spese_di_spedizione", "verzendkosten", "info_ongkir", "fraktinfo"),
    "show_password": ("afficher_mot_de_passe", "passwort_anzeigen", "mostrar_contrasena", "mostrar_senha",
                      "mostra_password", "wachtwoord_tonen", "lihat_kata_sandi", "visa_losenord"),
    "sign_in_with_google": ("se_connecter_avec_google", "mit_google_anmelden", "continuar_con_google",
                            "entrar_com_google", "accedi_con_google", "inloggen_met_google", "masuk_dengan_google",
                            "logga_in_med_google"),
    "terms": ("conditions_generales", "agb", "terminos", "termos_de_uso", "termini_e_condizioni", "voorwaarden",
              "syarat_ketentuan", "villkor"),
    "why_we_ask": ("pourquoi_ces_infos", "warum_fragen_wir", "por_que_lo_pedimos", "por_que_pedimos",
                   "perche_lo_chiediamo", "waarom_vragen_we_dit", "mengapa_kami_bertanya", "varfor_fragar_vi"),
}

# fields of a generic type (text, select, ...), the ones the renderer calls by their name; one row per concept
_FIELD_CONCEPTS: dict[str, tuple[str, ...]] = {
    "city": ("ville", "stadt", "ciudad", "cidade", "citta", "plaats", "kota", "ort"),
    "country": ("pays", "land", "pais", "pais", "paese", "land", "negara", "land"),
    "username": ("identifiant", "benutzername", "usuario", "usuario", "nome_utente", "gebruikersnaam",
                 "nama_pengguna", "anvandarnamn"),
    "company": ("societe", "firma", "empresa", "empresa", "azienda", "bedrijf", "perusahaan", "foretag"),
    "message": ("message", "nachricht", "mensaje", "mensagem", "messaggio", "bericht", "pesan", "meddelande"),
    "terms": ("accepte_cgu", "agb_akzeptieren", "acepto_terminos", "aceito_os_termos", "accetto_termini",
              "akkoord_voorwaarden", "setuju_syarat", "godkanner_villkor"),
    "national_id": ("numero_secu", "steuer_id", "dni", "cpf", "codice_fiscale", "bsn", "nik", "personnummer"),
    "income": ("revenu_annuel", "einkommen", "ingresos", "renda_mensal", "reddito", "inkomen", "penghasilan",
               "inkomst"),
    "employer": ("employeur", "arbeitgeber", "empleador", "empregador", "datore_di_lavoro", "werkgever",
                 "pekerjaan", "arbetsgivare"),
    "team_size": ("taille_equipe", "teamgroesse", "tamano_equipo", "tamanho_da_equipe", "dimensione_team",
                  "teamgrootte", "jumlah_karyawan", "teamstorlek"),
    "bank_account": ("rib", "kontonummer", "cuenta_bancaria", "conta_bancaria", "conto_corrente",
                     "rekeningnummer", "nomor_rekening", "kontonummer"),
}
# the simulator's English names of each concept
_FIELD_NAMES: dict[str, str] = {
    **{n: "city" for n in ("city", "town", "shipping_city")},
    **{n: "country" for n in ("country", "country_code", "shipping_country")},
    **{n: "username" for n in ("username", "user_name", "handle", "login")},
    **{n: "company" for n in ("company", "company_name", "organisation", "organization")},
    **{n: "message" for n in ("message", "comments", "details", "how_can_we_help", "notes")},
    **{n: "terms" for n in ("terms", "accept_terms", "tos", "agree")},
    **{n: "national_id" for n in ("ssn", "national_id", "tax_id", "id_number", "passport_number")},
    **{n: "income" for n in ("annual_income", "income", "monthly_income", "salary")},
    **{n: "employer" for n in ("employer", "employer_name", "occupation", "job_title")},
    **{n: "team_size" for n in ("team_size", "company_size", "employees", "seats")},
    **{n: "bank_account" for n in ("iban", "bank_account", "account_number", "routing_number")},
}
_LOCALES = {"fr": ("fr-FR", "fr-BE", "fr-CA"), "de": ("de-DE", "de-AT", "de-CH"), "es": ("es-ES", "es-MX", "es-AR"),
            "pt": ("pt-BR", "pt-PT"), "it": ("it-IT",), "nl": ("nl-NL", "nl-BE"), "id": ("id-ID",),
            "sv": ("sv-SE",)}

# a tab switch inserted by insert_tab_switch lasts this long (ms)
TAB_SWITCH_MS = (2_000, 45_000)


def localize(doc: dict[str, Any], lang: str, rng: random.Random) -> tuple[dict[str, Any], dict[str, str]]:
    """A copy of a trace (as JSON) with its click targets and generic fields renamed into ``lang``.

    Returns the copy and the renaming (old name -> new name) it made. Two fields never get the same new name: a
    field whose translation is taken keeps its name.
    """
    if lang not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {lang!r}")
    k = LANGUAGES.index(lang)
    out = {**doc, "form": {**doc["form"], "fields": [dict(f) for f in doc["form"]["fields"]]},
           "events": [dict(e) for e in doc["events"]]}
    fields: dict[str, str] = {}
    taken = {f["name"] for f in out["form"]["fields"]}
    for f in out["form"]["fields"]:
        concept = _FIELD_NAMES.get(f["name"])
        if concept is None or f["name"] in fields:
            continue
        new = _FIELD_CONCEPTS[concept][k]
        if new not in taken:
            fields[f["name"]] = new
            taken.add(new)
    for f in out["form"]["fields"]:
        f["name"] = fields.get(f["name"], f["name"])
    clicks: dict[str, str] = {}
    for e in out["events"]:
        if "field" in e and e["field"] in fields:
            e["field"] = fields[e["field"]]
        if e["type"] == "click" and e["target"] in _CLICKS:
            clicks[e["target"]] = e["target"] = _CLICKS[e["target"]][k]
    if out.get("context") is not None and "locale" in out["context"]:
        out["context"] = {**out["context"], "locale": rng.choice(_LOCALES[lang])}
    return out, {**fields, **clicks}


def insert_tab_switch(doc: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A copy of a trace (as JSON) with one brief ``hidden`` / ``visible`` pair in the middle of the session.

    It goes after a random event among all but the last three, never between a ``submit`` and what follows it (a
    wait for the server) nor next to another ``hidden`` / ``visible``; every later event moves later by its length.
    A trace with no such place is returned unchanged (as a copy).
    """
    events = [dict(e) for e in doc["events"]]
    out = {**doc, "events": events}
    places = [i for i in range(1, len(events) - 2)
              if events[i - 1]["type"] not in ("submit", "hidden", "visible")
              and events[i]["type"] not in ("hidden", "visible", "response")]
    if not places:
        return out
    i = rng.choice(places)
    t0 = events[i - 1]["t"] + rng.randint(200, 1500)
    gap = rng.randint(*TAB_SWITCH_MS)
    shift = (t0 - events[i - 1]["t"]) + gap + rng.randint(200, 1200)
    for e in events[i:]:
        e["t"] += shift
    events[i:i] = [{"t": t0, "type": "hidden"}, {"t": t0 + gap, "type": "visible"}]
    return out


def augment_examples(examples: list[Example], *, localize_share: float, tab_switch_share: float,
                     seed: int = 0) -> tuple[list[Example], list[dict[str, str]]]:
    """Each example localized with probability ``localize_share`` (into a language drawn uniformly) and given a
    tab switch with probability ``tab_switch_share``; seeded by (seed, position), so a run is reproducible.

    Returns the new examples (the inputs are not changed) and, for each, the renaming :func:`localize` made ({}
    when it was not localized). An augmented trace is validated against the trace contract again.
    """
    for name, share in (("localize_share", localize_share), ("tab_switch_share", tab_switch_share)):
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"{name} must be within [0, 1], not {share!r}")
    out: list[Example] = []
    renames: list[dict[str, str]] = []
    for i, ex in enumerate(examples):
        rng = random.Random(f"{seed}:augment:{i}")
        doc = ex.trace.to_dict()
        rename: dict[str, str] = {}
        changed = False
        if rng.random() < localize_share:
            doc, rename = localize(doc, rng.choice(LANGUAGES), rng)
            changed = True
        if rng.random() < tab_switch_share:
            doc = insert_tab_switch(doc, rng)
            changed = True
        trace = Trace.model_validate(doc) if changed else ex.trace
        out.append(Example(trace=trace, label=ex.label, id=ex.id, reasoning=ex.reasoning,
                           confidence=ex.confidence, extra=dict(ex.extra)))
        renames.append(rename)
    return out, renames
