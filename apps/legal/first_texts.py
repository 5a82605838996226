"""The consent texts the platform started with, published by migration legal 0003: version
2026-11-01, what the flow showed as constants until then (in compare mode too, which then showed
the single-lender sentence), and version 2026-12-03, whose compare-mode text says what compare
mode does. Written out here, frozen: journeys point at these rows, so never edit this file; staff
publish later versions in admin.
"""

import datetime


FIRST_VERSION = "2026-11-01"
SECOND_VERSION = "2026-12-03"
BOGOTA = datetime.timezone(datetime.timedelta(hours=-5))

LABELS = {
    "es": {
        "terms_label": "Acepto los términos y condiciones.",
        "privacy_label": "Leí la política de privacidad.",
        "data_processing_label": "Autorizo el tratamiento de mis datos personales para estudiar mi solicitud de "
                                 "crédito (Ley 1581 de 2012).",
    },
    "en": {
        "terms_label": "I accept the terms and conditions.",
        "privacy_label": "I have read the privacy policy.",
        "data_processing_label": "I authorize the processing of my personal data to assess my credit application "
                                 "(Law 1581 of 2012).",
    },
}
SINGLE_SHARING = {
    "es": "Tus datos viajan cifrados y solo se comparten con la entidad que elegiste.",
    "en": "Your details travel encrypted and are shared only with the lender you chose.",
}
COMPARE_DATA_PROCESSING = {
    "es": "Autorizo el tratamiento de mis datos personales y su envío a cada entidad de la lista para que estudien "
          "mi solicitud de crédito (Ley 1581 de 2012).",
    "en": "I authorize the processing of my personal data and its sending to every lender on the list, for each to "
          "assess my credit application (Law 1581 of 2012).",
}
COMPARE_SHARING = {
    "es": "Para comparar ofertas, al continuar enviamos tus datos, cifrados, a cada una de las entidades de esta "
          "lista, y cada una estudia tu solicitud. Después, tu solicitud sigue solo con la entidad cuya oferta "
          "elijas.",
    "en": "To compare offers, when you continue we send your details, encrypted, to every lender on this list, and "
          "each one assesses your application. Afterwards your application goes on only with the lender whose "
          "offer you pick.",
}


def rows_of(version, published_at, compare_texts):
    for language in ("es", "en"):
        for mode in ("single", "compare"):
            labels = dict(LABELS[language])
            sharing = SINGLE_SHARING[language]
            if mode == "compare" and compare_texts:
                labels["data_processing_label"] = COMPARE_DATA_PROCESSING[language]
                sharing = COMPARE_SHARING[language]
            yield dict(version=version, language=language, mode=mode, sharing=sharing, published_at=published_at,
                       **labels)


def first_texts_publish(ConsentText) -> None:
    """Create the two first versions, published, unless there (idempotent). `ConsentText` is the
    model class: the migration's historical one, or the app's after a flush (apps.py)."""
    first = datetime.datetime(2026, 11, 1, tzinfo=BOGOTA)
    second = datetime.datetime(2026, 12, 3, tzinfo=BOGOTA)
    for version, published_at, compare_texts in ((FIRST_VERSION, first, False), (SECOND_VERSION, second, True)):
        for values in rows_of(version, published_at, compare_texts):
            key = {name: values.pop(name) for name in ("version", "language", "mode")}
            ConsentText.objects.get_or_create(**key, defaults=values)


